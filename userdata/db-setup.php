<?php
// moodle-ha: the cron instance only. Makes sure Moodle's database and its own user exist, the
// user with only the privileges Moodle needs and the password of the stack's db-user secret,
// and prints how many tables carry the site's prefix (0 means a new database) and the version
// in the site's config table (empty when there is none).
//
// Usage: php db-setup.php <host> <database> <user> <prefix> <grants>
// stdin: line 1 the RDS master secret (JSON with username and password), line 2 the user's
// password. Nothing secret is printed. TLS with the server's certificate checked against the
// system trust store, which holds the RDS CA bundle.

function fail(string $message): void {
    fwrite(STDERR, "db-setup: $message\n");
    exit(1);
}

if ($argc !== 6) {
    fail('usage: php db-setup.php <host> <database> <user> <prefix> <grants>');
}
[, $host, $database, $user, $prefix, $grants] = $argv;
foreach ([$database, $user, $prefix] as $name) {
    if (!preg_match('/^[A-Za-z0-9_]+$/', $name)) {
        fail("`$name` is not a plain identifier");
    }
}
if (!preg_match('/^[A-Z ,]+$/', $grants)) {
    fail('the grants are not a list of privileges');
}
$master = json_decode(trim((string) fgets(STDIN)), true);
$password = trim((string) fgets(STDIN));
if (!is_array($master) || !isset($master['username'], $master['password'])) {
    fail('the master secret is not JSON with username and password');
}
if (!preg_match('/^[A-Za-z0-9]{16,}$/', $password)) {
    fail("the user's password is not a generated one");
}

mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
try {
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 10);
    $db->real_connect($host, $master['username'], $master['password'], null, 3306, null,
        MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT);
    $db->query("CREATE DATABASE IF NOT EXISTS `$database` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
    $u = $db->real_escape_string($user);
    $p = $db->real_escape_string($password);
    $db->query("CREATE USER IF NOT EXISTS '$u'@'%' IDENTIFIED BY '$p' REQUIRE SSL");
    $db->query("ALTER USER '$u'@'%' IDENTIFIED BY '$p' REQUIRE SSL");
    $db->query("GRANT $grants ON `$database`.* TO '$u'@'%'");
    $like = $db->real_escape_string(str_replace('_', '\\_', $prefix)) . '%';
    $d = $db->real_escape_string($database);
    $result = $db->query("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$d' AND table_name LIKE '$like'");
    $tables = (int) $result->fetch_row()[0];
    // The version Moodle's config table holds, if any: a site with one is installed, even when
    // Moodle itself does not start (an interrupted upgrade holds its upgrade lock for a while).
    $version = '';
    $t = $db->real_escape_string($prefix . 'config');
    if ($db->query("SELECT 1 FROM information_schema.tables WHERE table_schema = '$d' AND table_name = '$t'")->num_rows) {
        $row = $db->query("SELECT value FROM `$database`.`{$prefix}config` WHERE name = 'version'")->fetch_row();
        $version = $row ? preg_replace('/[^0-9.]/', '', (string) $row[0]) : '';
    }
    echo $tables, ' ', $version, "\n";
} catch (mysqli_sql_exception $e) {
    fail('MySQL error ' . $e->getCode() . ' (' . $e->getSqlState() . ')');
}
