// Start NHS.UK frontend's components (pages work without it: this only adds behaviour).
import { initAll } from "../nhsuk/nhsuk/nhsuk-frontend.min.js";

initAll();
