<?php
// Stub of a Moodle page for tests/render-check/health-check: says it was served as the site.
echo "STUB-SITE-PAGE script={$_SERVER['SCRIPT_NAME']} host=" . ($_SERVER['HTTP_HOST'] ?? '') . "\n";
