<?php
// tests/render-check/assert-config.php DIR
//
// Runs DIR/config.php the way Moodle does and checks what it sets against DIR/expect.json.
// config.php is copied into a temporary code root whose lib/setup.php is a stub: when config.php
// requires it, the stub prints $CFG as JSON and exits. config.php reads the secrets from the
// file named by expect.json's secrets_file; a stub with random values is written there for the
// run (an existing file is moved aside and put back, also on Ctrl-C). Then config.php's text
// is checked: no secret in it, one require_once of lib/setup.php with only comments after it.
// Exit status: 0 when every assertion holds, 1 otherwise, 2 on a usage or setup error.

error_reporting(E_ALL);

if ($argc !== 2 || !is_dir($argv[1])) {
    fwrite(STDERR, "usage: php assert-config.php DIR (holding config.php and expect.json)\n");
    exit(2);
}
$dir = rtrim($argv[1], '/');
$text = @file_get_contents("$dir/config.php");
$expect = json_decode((string) @file_get_contents("$dir/expect.json"), true);
if ($text === false || !is_array($expect)) {
    fwrite(STDERR, "$dir: config.php or expect.json is missing or unreadable\n");
    exit(2);
}
foreach (['wwwroot', 'dbtype', 'dbhost', 'dbname', 'dbuser', 'prefix', 'dataroot',
        'session_redis_host', 'session_redis_port', 'ca_bundle', 'secrets_file'] as $k) {
    if (!array_key_exists($k, $expect)) {
        fwrite(STDERR, "$dir/expect.json: no '$k'\n");
        exit(2);
    }
}

$failures = [];
$count = 0;
function check(bool $ok, string $what): void {
    global $failures, $count;
    $count++;
    if (!$ok) {
        $failures[] = $what;
    }
}
function show($v): string {
    // Strings as written, control characters named: var_export would double the backslashes.
    if (!is_string($v)) {
        return str_replace("\n", ' ', var_export($v, true));
    }
    $named = preg_replace_callback('/[\x00-\x1f\x7f]/', fn($m) => match ($m[0]) {
        "\r" => '<CR>', "\n" => '<LF>', "\t" => '<TAB>',
        default => sprintf('<0x%02x>', ord($m[0])),
    }, $v);
    return "'$named' (" . strlen($v) . ' chars)';
}

// ---------------------------------------------------------------------------------------------
// The secrets stub, and putting back whatever was there.
$secretsfile = $expect['secrets_file'];
$backup = "$secretsfile.render-check-backup";
$madedir = null;
$stub = [
    // Quotes and backslashes: the values travel through require, never through config.php.
    'dbpass' => 'stub-dbpass-' . bin2hex(random_bytes(8)) . "'\\\"",
    'redis_auth' => 'stub-redis-auth-' . bin2hex(random_bytes(8)) . "'\\\"",
];
// One run at a time owns the secrets file.
$secretslock = fopen(sys_get_temp_dir() . '/moodle-ha-render-check-secrets.lock', 'c');
if ($secretslock === false || !flock($secretslock, LOCK_EX)) {
    fwrite(STDERR, "cannot lock the secrets file for this run\n");
    exit(2);
}
$restored = false;
function restore_secrets(): void {
    global $secretsfile, $backup, $madedir, $restored;
    if ($restored) {
        return;
    }
    $restored = true;
    @unlink($secretsfile);
    if (file_exists($backup)) {
        rename($backup, $secretsfile);
    } elseif ($madedir !== null) {
        @rmdir($madedir);
    }
}
if (file_exists($backup)) {
    // A run that was killed before it could put the file back.
    fwrite(STDERR, "note: putting back $backup left by an interrupted run\n");
    rename($backup, $secretsfile);
}
if (!is_dir(dirname($secretsfile))) {
    if (!@mkdir(dirname($secretsfile), 0750, true)) {
        fwrite(STDERR, "cannot create " . dirname($secretsfile) . " (run as root)\n");
        exit(2);
    }
    $madedir = dirname($secretsfile);
}
if (file_exists($secretsfile) && !@rename($secretsfile, $backup)) {
    fwrite(STDERR, "cannot move $secretsfile aside (run as root)\n");
    exit(2);
}
register_shutdown_function('restore_secrets');
if (function_exists('pcntl_async_signals')) {
    pcntl_async_signals(true);
    foreach ([SIGINT, SIGTERM, SIGHUP] as $sig) {
        pcntl_signal($sig, function () {
            restore_secrets();
            exit(130);
        });
    }
}
if (@file_put_contents($secretsfile, "<?php\nreturn " . var_export($stub, true) . ";\n") === false) {
    fwrite(STDERR, "cannot write $secretsfile (run as root)\n");
    exit(2);
}

// ---------------------------------------------------------------------------------------------
// A code root holding config.php, a stub lib/setup.php and a page that includes config.php.
$root = sys_get_temp_dir() . '/render-check-' . bin2hex(random_bytes(6));
mkdir("$root/lib", 0700, true);
register_shutdown_function(function () use ($root) {
    foreach (['config.php', 'lib/setup.php', 'index.php'] as $f) {
        @unlink("$root/$f");
    }
    @rmdir("$root/lib");
    @rmdir($root);
});
copy("$dir/config.php", "$root/config.php");
file_put_contents("$root/lib/setup.php", <<<'PHP'
<?php
// Stub of Moodle's lib/setup.php: reports what config.php set, and what else it left defined.
$left = array_values(array_filter(array_keys(get_defined_vars()),
    fn($n) => $n !== 'CFG' && $n[0] !== '_' && !in_array($n, ['argv', 'argc', 'GLOBALS'], true)));
$types = [];
foreach ((array) $CFG as $k => $v) {
    $types[$k] = gettype($v);
}
echo json_encode(['cfgclass' => is_object($CFG) ? get_class($CFG) : gettype($CFG),
    'cfg' => $CFG, 'types' => $types, 'left' => $left, 'setup' => 1],
    JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION);
exit(0);
PHP);
file_put_contents("$root/index.php", <<<'PHP'
<?php
// Like any Moodle page: include config.php at the top level. Any notice or warning fails.
set_error_handler(function ($no, $str, $file, $line) {
    fwrite(STDERR, "PHP error ($no) in " . basename($file) . ":$line: $str\n");
    exit(3);
});
require(__DIR__ . '/config.php');
fwrite(STDERR, "config.php returned without requiring lib/setup.php\n");
exit(4);
PHP);

$proc = proc_open([PHP_BINARY, '-d', 'display_errors=stderr', "$root/index.php"],
    [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $root);
$out = stream_get_contents($pipes[1]);
$err = stream_get_contents($pipes[2]);
$status = proc_close($proc);
restore_secrets();

$run = json_decode($out, true);
check($status === 0 && is_array($run) && ($run['setup'] ?? 0) === 1,
    "config.php did not run to lib/setup.php (exit $status): " . trim($err . ' ' . substr($out, 0, 300)));
if (!is_array($run)) {
    $run = ['cfg' => [], 'types' => [], 'left' => [], 'cfgclass' => '?'];
}
$cfg = $run['cfg'];
$types = $run['types'];
$get = fn(string $k) => $cfg[$k] ?? null;

// ---------------------------------------------------------------------------------------------
// What config.php sets.
check($run['cfgclass'] === 'stdClass', "\$CFG is a " . $run['cfgclass'] . ", not a stdClass");
check($run['left'] === [], 'config.php leaves variables defined for lib/setup.php: $'
    . implode(', $', $run['left']) . ' (the secrets must be unset)');

$handler = $get('session_handler_class');
// The 19 characters \core\session\redis: three single backslashes, no CR.
check($handler === '\core\session\redis' && strlen($handler) === 19,
    'session_handler_class is ' . show($handler) . ", not \\core\\session\\redis (19 chars)");
check(is_string($handler) && stripos($handler, 'file') === false,
    'session_handler_class is a file handler: ' . show($handler));
$rhost = $get('session_redis_host');
check(is_string($rhost) && $rhost !== '' && strpbrk($rhost, ",: \t/") === false,
    'session_redis_host is not a bare host name (no list, scheme or port): ' . show($rhost));
check($rhost === $expect['session_redis_host'],
    'session_redis_host is ' . show($rhost) . ', expected ' . show($expect['session_redis_host']));
check($get('session_redis_port') === $expect['session_redis_port'],
    'session_redis_port is ' . show($get('session_redis_port')) . ', expected '
    . show($expect['session_redis_port']));
$enc = $get('session_redis_encrypt');
check(($types['session_redis_encrypt'] ?? '') === 'array' && is_array($enc) && $enc !== []
    && !empty($enc['cafile']),
    'session_redis_encrypt is not a non-empty array with a cafile: ' . show($enc));
check(is_array($enc) && ($enc['cafile'] ?? null) === $expect['ca_bundle'],
    'session_redis_encrypt cafile is ' . show($enc['cafile'] ?? null) . ', expected '
    . show($expect['ca_bundle']));

check($get('sslproxy') === true, 'sslproxy is ' . show($get('sslproxy')) . ', not true');
check(empty($get('reverseproxy')), 'reverseproxy is ' . show($get('reverseproxy'))
    . ': it must be off behind a load balancer that keeps the Host');
check($get('getremoteaddrconf') === 1, 'getremoteaddrconf is ' . show($get('getremoteaddrconf'))
    . ', not the integer 1');

foreach (['dbtype', 'dbhost', 'dbname', 'dbuser', 'prefix', 'dataroot', 'wwwroot'] as $k) {
    check($get($k) === $expect[$k], "$k is " . show($get($k)) . ', expected ' . show($expect[$k]));
}
$dbo = $get('dboptions');
check(is_array($dbo) && ($dbo['ssl'] ?? null) === 'verify-full',
    "dboptions['ssl'] is " . show($dbo['ssl'] ?? null) . ", not 'verify-full'");
check(is_array($dbo) && ($dbo['dbcollation'] ?? null) === 'utf8mb4_unicode_ci',
    "dboptions['dbcollation'] is " . show($dbo['dbcollation'] ?? null)
    . ", not 'utf8mb4_unicode_ci'");

$dataroot = rtrim((string) $get('dataroot'), '/');
foreach (['tempdir', 'cachedir', 'backuptempdir'] as $k) {
    $v = $get($k);
    check(is_string($v) && $dataroot !== '' && str_starts_with($v, "$dataroot/"),
        "$k is " . show($v) . ", not under dataroot ($dataroot): every node must share it");
}
$lc = $get('localcachedir');
check(is_string($lc) && $lc !== '' && $lc !== $dataroot && !str_starts_with($lc, "$dataroot/"),
    'localcachedir is ' . show($lc) . ', not a node-local directory outside dataroot');
check($get('directorypermissions') === 02770, 'directorypermissions is '
    . show($get('directorypermissions')) . ', not 02770');
check($get('enableasyncbackup') == 1, 'enableasyncbackup is ' . show($get('enableasyncbackup')));
$lock = $get('lock_factory');
check(is_string($lock) && $lock !== '', 'lock_factory is not set: ' . show($lock));
check(!is_string($lock) || stripos($lock, 'file_lock') === false,
    'lock_factory is ' . show($lock) . ': file locks on the shared disk');
check($get('routerconfigured') === true, 'routerconfigured is ' . show($get('routerconfigured'))
    . ', not true');

check($get('dbpass') === $stub['dbpass'], 'dbpass is not the secrets file\'s dbpass');
check($get('session_redis_auth') === $stub['redis_auth'],
    'session_redis_auth is not the secrets file\'s redis_auth');
foreach ($cfg as $k => $v) {
    if ($k === 'dbpass' || $k === 'session_redis_auth') {
        continue;
    }
    $j = json_encode($v, JSON_UNESCAPED_SLASHES);
    foreach ($stub as $name => $secret) {
        check(!str_contains($j, json_encode($secret)) && !str_contains($j, substr($secret, 0, 28)),
            "\$CFG->$k carries the secret $name");
    }
}

// ---------------------------------------------------------------------------------------------
// config.php's text.
check(str_starts_with($text, '<?php'), 'config.php does not start with <?php (a BOM or text before'
    . ' it is output before any header)');
check(!str_contains($text, "\r"), 'config.php has CR characters');
foreach ($stub as $name => $secret) {
    check(!str_contains($text, substr($secret, 0, 28)), "config.php's text holds the stub $name");
}
check(str_contains($text, "require('$secretsfile')") || str_contains($text, "require_once('$secretsfile')"),
    "config.php does not require('$secretsfile')");

$want = "require_once(__DIR__ . '/lib/setup.php');";
check(substr_count($text, $want) === 1,
    'config.php has ' . substr_count($text, $want) . " copies of $want (want exactly 1)");
$tokens = token_get_all($text);
$includes = 0;
$after = null;
foreach ($tokens as $i => $t) {
    if (is_array($t) && in_array($t[0], [T_REQUIRE, T_REQUIRE_ONCE, T_INCLUDE, T_INCLUDE_ONCE], true)) {
        $stmt = '';
        for ($j = $i; $j < count($tokens) && $tokens[$j] !== ';'; $j++) {
            $stmt .= is_array($tokens[$j]) ? $tokens[$j][1] : $tokens[$j];
        }
        if (str_contains($stmt, 'setup.php')) {
            $includes++;
            $after = $j + 1;
        }
    }
    if (is_array($t) && $t[0] === T_CLOSE_TAG) {
        check(false, 'config.php has a closing ?> tag (line ' . $t[2] . ')');
    }
}
check($includes === 1, "config.php includes lib/setup.php $includes times (want 1)");
if ($after !== null) {
    $rest = '';
    foreach (array_slice($tokens, $after) as $t) {
        if (!is_array($t) || !in_array($t[0], [T_WHITESPACE, T_COMMENT, T_DOC_COMMENT], true)) {
            $rest .= is_array($t) ? $t[1] : $t;
        }
    }
    check(trim($rest) === '', 'config.php has code after lib/setup.php: ' . show(trim($rest)));
}

// Anything that looks like a secret: a literal assigned to a password-like setting, a literal
// with the look of a key or token.
$secretname = '/^(dbpass|session_redis_auth)$|^passwordsalt|secret|token|apikey|(^|_)key$|password$/i';
for ($i = 0; $i < count($tokens); $i++) {
    $t = $tokens[$i];
    if (is_array($t) && $t[0] === T_VARIABLE && $t[1] === '$CFG'
            && is_array($tokens[$i + 1] ?? null) && $tokens[$i + 1][0] === T_OBJECT_OPERATOR
            && is_array($tokens[$i + 2] ?? null) && preg_match($secretname, $tokens[$i + 2][1])) {
        $name = $tokens[$i + 2][1];
        $rhs = '';
        for ($j = $i + 3; $j < count($tokens) && $tokens[$j] !== ';'; $j++) {
            $rhs .= is_array($tokens[$j]) ? $tokens[$j][1] : $tokens[$j];
        }
        $rhs = trim(ltrim(trim($rhs), '='));
        // What is left once the reads of the secrets file are taken out: no literal.
        $bare = preg_replace('/\$moodlehasecrets\s*\[\s*([\'"])[A-Za-z_]+\1\s*\]/', '', $rhs);
        $literal = (bool) preg_match('/([\'"])[^\'"]+\1/', $bare);
        $fromsecrets = $bare !== $rhs;
        check(!$literal && ($fromsecrets || !in_array($name, ['dbpass', 'session_redis_auth'], true)),
            "\$CFG->$name is not taken from the secrets file: = $rhs (line {$t[2]})");
    }
    if (is_array($t) && $t[0] === T_CONSTANT_ENCAPSED_STRING) {
        $s = substr($t[1], 1, -1);
        $looks = preg_match('/AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|-----BEGIN|aws_secret_access_key/', $s)
            || (preg_match('/^[A-Za-z0-9+\/=_-]{16,}$/', $s) && preg_match('/[a-z]/', $s)
                && preg_match('/[A-Z]/', $s) && preg_match('/[0-9]/', $s));
        check(!$looks, "config.php line {$t[2]}: a literal that looks like a secret: $t[1]");
    }
}

// ---------------------------------------------------------------------------------------------
foreach ($failures as $f) {
    echo "  FAIL config.php: $f\n";
}
printf("  config.php: %d assertions, %d failed\n", $count, count($failures));
exit($failures ? 1 : 0);
