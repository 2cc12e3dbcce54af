"""Access requests: the unit of change (DESIGN.md), its state machine, routes and separation of duties.

- `rules.py` (pure): kinds, the state machine (draft -> submitted -> validated -> approved ->
  fulfilled; rejected, withdrawn, referred; information_requested and back, CC10), CC5 titles,
  CC6 routes and who validates/approves (CC1), SLA dates (CC7), generic addresses (PP2), CSV rows.
- `services.py` (writes): `raise_request`, `submit`, `validate`, `approve` (with `Confirmations`,
  CC9), `fulfil`, `reject`, `withdraw`, `refer`, `request_information`, `provide_information`,
  `record_evidence` (SC7, PP12, PP14), `record_training` (PP5: identity's training record of kind "actioning", for a service or every service; without it no one fulfils), `set_credentials_nominee` (CC8),
  `set_service_policy`, `import_batch` / `transition_batch` (SC11). Each takes the caller's
  `version`: a stale one is `Conflict` (409); an illegal step is `Conflict`; bad input is
  `InvalidInput` (422) naming every field; a missing right or a separation-of-duties breach is
  `Forbidden` (403). Nothing is written when any is raised.
- `selectors.py` (reads): `queue(actor, "mine" | "organisation" | "desk" | "authoriser" |
  "back_office")` overdue first, `get_request`, `history` (the request's ledger entries),
  `next_actions`, `may`, `overdue`, `summary`.
- `next_step.py` (reads): who a request waits for, in words, and why a fulfiller may not fulfil it
  (PP5 training, or a kind needing an RA agent); `training_views.py`: /requests/training/<uid>,
  where an RA manager records training to action requests (linked from the person page).
- `api.py`: the router the project mounts at /api/v1/requests.
- `careaccess requests import FILE --organisation CODE --service CODE` and `careaccess requests list`.

Choices:
- The request reaches the back office when it is approved (after the desk's or the authoriser's
  validation); its due date is the service's `sla_days` from then, in working days (Monday to
  Friday, no bank holidays) unless `CAREACCESS_REQUEST_SLA_WORKING_DAYS` is false (calendar days).
- IG training is current when completed within `CAREACCESS_IG_TRAINING_VALID_DAYS` (365) days.
- Secondary-purpose requests are referred at submission to `CAREACCESS_REQUEST_CENTRAL_TEAM_EMAIL`.
- A care provider's sponsorship (DS4) is its sponsor or its lead correspondent (PP3).
"""
