"""Access requests: the unit of change (DESIGN.md), its state machine, routes and separation of duties."""
