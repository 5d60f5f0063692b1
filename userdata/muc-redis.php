<?php
// moodle-ha: the cron instance only. Puts Moodle's application and session caches (MUC) on
// Redis through core's cache configuration API. The configuration lives in dataroot/muc on
// the shared disk, so writing it once serves every node. Idempotent: run after every install,
// upgrade and AUTH token change. The same API on 4.5, 5.0 and 5.1 (\core_cache\config_writer).
//
// Usage: php muc-redis.php <code root> <host:port> <prefix> <cafile>; stdin: the AUTH token.
// TLS is on with an explicit cafile: without one, the Redis store turns verification off.

define('CLI_SCRIPT', true);
if ($argc !== 5) {
    fwrite(STDERR, "usage: php muc-redis.php <code root> <host:port> <prefix> <cafile>\n");
    exit(2);
}
[, $root, $server, $prefix, $cafile] = $argv;
require($root . '/config.php');
require_once($CFG->libdir . '/clilib.php');

$name = 'moodleha_redis';
$configuration = [
    'server' => $server,
    'prefix' => $prefix,
    'password' => trim(stream_get_contents(STDIN)),
    'serializer' => 1,   // Redis::SERIALIZER_PHP
    'compressor' => 0,   // none
    'encryption' => true,
    'cafile' => $cafile,
    'clustermode' => false,
];
$writer = \core_cache\config_writer::instance();
if (array_key_exists($name, $writer->get_all_stores())) {
    $writer->edit_store_instance($name, 'redis', $configuration);
} else {
    $writer->add_store_instance($name, 'redis', $configuration);
}
$writer->set_mode_mappings([
    \core_cache\store::MODE_APPLICATION => [$name],
    \core_cache\store::MODE_SESSION => [$name],
    \core_cache\store::MODE_REQUEST => ['default_request'],
]);
\core_cache\helper::purge_all();
foreach ($writer->get_mode_mappings() as $mapping) {
    echo "mode {$mapping['mode']} -> {$mapping['store']}\n";
}
