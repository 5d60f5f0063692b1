<?php
// Stub of Moodle's router (r.php) for tests/render-check/health-check: every path that is not a
// file ends here (routerconfigured).
echo "STUB-ROUTER uri={$_SERVER['REQUEST_URI']}\n";
