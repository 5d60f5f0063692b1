<?php  // Moodle configuration file, rendered by moodle-ha for stack moodle-deb45.
// Every name below is checked against config-dist.php of each branch moodle-ha runs (4.5, 5.0, 5.1; one file serves a site through an upgrade to a new branch)
// and the code that reads it (lib/classes/session/redis.php, lib/dml/mysqli_native_moodle_database.php,
// lib/setuplib.php); see docs/moodle-render-research.md. Do not edit it on a node: apply renders it.
//
// No secret is written here. The database password and the Redis AUTH token are read from
// /etc/moodle-ha/secrets.php, which the node writes at boot from Secrets Manager with its instance role.
// Values marked "known after apply" are filled in on the node at boot from the stack's resources.

unset($CFG);
global $CFG;
$CFG = new stdClass();
$moodlehasecrets = require('/etc/moodle-ha/secrets.php');

$CFG->dbtype    = 'mysqli';
$CFG->dblibrary = 'native';
$CFG->dbhost    = 'moodle-deb45-db.c9akciq32lx1.eu-west-1.rds.amazonaws.com';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodleapp';
$CFG->dbpass    = $moodlehasecrets['dbpass'];
$CFG->prefix    = 'm45_';
$CFG->dboptions = [
    'dbpersist' => false,
    'dbsocket' => false,
    'dbport' => 3306,
    'dbcollation' => 'utf8mb4_unicode_ci',
    // TLS with the server's name and chain checked: the node trusts the RDS CA bundle.
    'ssl' => 'verify-full',
    'connecttimeout' => 10,
];

$CFG->wwwroot = 'https://moodle.example.edu';
// TLS ends at the load balancer, which keeps the client's Host: sslproxy on, reverseproxy off
// (on, every page throws reverseproxyabused).
$CFG->sslproxy = true;
$CFG->reverseproxy = false;
// 1 = GETREMOTEADDR_SKIP_HTTP_CLIENT_IP: the client is X-Forwarded-For's last entry, the one
// the load balancer appends. A literal: moodlelib's constants are not defined yet here.
$CFG->getremoteaddrconf = 1;
// The web server sends unknown paths to r.php (compulsory from 5.1).
$CFG->routerconfigured = true;

$CFG->dataroot = '/srv/moodledata';
// Shared by every node (on EFS, under dataroot); localcachedir stays on each node's disk.
$CFG->tempdir = '/srv/moodledata/temp';
$CFG->cachedir = '/srv/moodledata/cache';
$CFG->backuptempdir = '/srv/moodledata/backuptemp';
$CFG->localcachedir = '/var/cache/moodle';
$CFG->directorypermissions = 02770;
$CFG->admin = 'admin';

// Sessions in Redis, never in files: the replication group's primary endpoint as a bare host
// (a comma list means Redis Cluster, a tls:// prefix breaks every page); TLS through
// session_redis_encrypt; the lock settings under the names the handler reads.
$CFG->session_handler_class = '\core\session\redis';
$CFG->session_redis_host = 'master.moodle-deb45-redis.x1ab2c.euw1.cache.amazonaws.com';
$CFG->session_redis_port = 6379;
$CFG->session_redis_auth = $moodlehasecrets['redis_auth'];
$CFG->session_redis_database = 0;
$CFG->session_redis_prefix = 'moodle-deb45_sess_';
$CFG->session_redis_encrypt = ['cafile' => '/etc/ssl/certs/ca-certificates.crt'];
$CFG->session_redis_acquire_lock_timeout = 120;
$CFG->session_redis_acquire_lock_retry = 100;
$CFG->session_redis_max_retries = 3;

// The HA guide's critical settings, forced so no admin can undo them: asynchronous backups,
// locks in the database (not on the shared disk). The caches (MUC) are on Redis: the cron
// instance configures them once in dataroot/muc, shared by every node.
$CFG->enableasyncbackup = 1;
$CFG->lock_factory = '\core\lock\db_record_lock_factory';
// Code comes from git: no plugin installs or executable paths from the web UI.
$CFG->disableupdateautodeploy = true;
$CFG->preventexecpath = true;

unset($moodlehasecrets);
require_once(__DIR__ . '/lib/setup.php');
// There is no php closing tag in this file, it is intentional because it prevents trailing whitespace problems!
