<?php
// Stub of Moodle's login/index.php for tests/render-check/health-check. Like Moodle (the wwwroot
// check in lib/setuplib.php), a request whose Host is not wwwroot's is answered with a 303 to
// wwwroot; with wwwroot's Host the page is served.
$wwwroot = (string) getenv('MOODLE_STUB_WWWROOT');
$host = parse_url($wwwroot, PHP_URL_HOST);
if (($_SERVER['HTTP_HOST'] ?? '') !== $host) {
    header("Location: $wwwroot/login/index.php", true, 303);
    echo "STUB-REDIRECT to $wwwroot\n";
    exit;
}
echo "STUB-LOGIN-PAGE host={$_SERVER['HTTP_HOST']}\n";
