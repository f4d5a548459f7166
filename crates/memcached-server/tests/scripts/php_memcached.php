<?php
// php-memcached (libmemcached, text protocol) against one server: php php_memcached.php HOST PORT
// Prints one "ok <check>" line per check; exits 1 with "FAIL <check>: <details>" on the first
// failure. Used by crates/memcached-server/tests/real_clients.rs.

if ($argc != 3) {
    fwrite(STDERR, "usage: php_memcached.php HOST PORT\n");
    exit(2);
}
$host = $argv[1];
$port = (int)$argv[2];

$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, false);
$m->setOption(Memcached::OPT_COMPRESSION, false); // append/prepend refuse compression
$m->setOption(Memcached::OPT_CONNECT_TIMEOUT, 2000);
$m->setOption(Memcached::OPT_RECV_TIMEOUT, 2000000);
$m->setOption(Memcached::OPT_SEND_TIMEOUT, 2000000);
$m->addServer($host, $port);

function check($name, $cond, $details = '') {
    global $m;
    if (!$cond) {
        echo "FAIL $name: $details (result code " . $m->getResultCode() . ": " . $m->getResultMessage() . ")\n";
        exit(1);
    }
    echo "ok $name\n";
}

$prefix = 'php' . getmypid() . '_';

// flush so the run starts from an empty cache
check('flush', $m->flush());

// set/get of strings, integers (flags say "long"), arrays (serialized)
check('set string', $m->set($prefix . 's', 'hello world'));
check('get string', $m->get($prefix . 's') === 'hello world', var_export($m->get($prefix . 's'), true));
check('set int', $m->set($prefix . 'i', 42));
check('get int', $m->get($prefix . 'i') === 42, var_export($m->get($prefix . 'i'), true));
check('set array', $m->set($prefix . 'a', ['x' => 1, 'y' => [2, 3]]));
check('get array', $m->get($prefix . 'a') === ['x' => 1, 'y' => [2, 3]]);
$big = str_repeat('0123456789', 50000); // 500 kB
check('set big', $m->set($prefix . 'big', $big));
check('get big', $m->get($prefix . 'big') === $big);

// miss
check('get miss', $m->get($prefix . 'missing') === false
    && $m->getResultCode() === Memcached::RES_NOTFOUND);

// add / replace
check('add new', $m->add($prefix . 'add', 'first'));
check('add existing refused', !$m->add($prefix . 'add', 'second')
    && $m->getResultCode() === Memcached::RES_NOTSTORED);
check('replace existing', $m->replace($prefix . 'add', 'third'));
check('replace result', $m->get($prefix . 'add') === 'third');
check('replace missing refused', !$m->replace($prefix . 'nope', 'x'));

// cas: gets, cas with the token, cas with a stale token
$got = $m->get($prefix . 's', null, Memcached::GET_EXTENDED);
check('gets', is_array($got) && $got['value'] === 'hello world' && $got['cas'] > 0, var_export($got, true));
$cas = $got['cas'];
check('cas with token', $m->cas($cas, $prefix . 's', 'changed'));
check('cas result', $m->get($prefix . 's') === 'changed');
check('cas stale token refused', !$m->cas($cas, $prefix . 's', 'again')
    && $m->getResultCode() === Memcached::RES_DATA_EXISTS);
check('cas missing key', !$m->cas($cas, $prefix . 'nokey', 'x')
    && $m->getResultCode() === Memcached::RES_NOTFOUND);

// increment / decrement
check('set counter', $m->set($prefix . 'n', 10));
check('increment', $m->increment($prefix . 'n', 5) === 15);
check('decrement', $m->decrement($prefix . 'n', 20) === 0);
check('increment big', $m->increment($prefix . 'n', 1000000) === 1000000);
check('increment missing', $m->increment($prefix . 'nokey', 1) === false);

// append / prepend
check('set text', $m->set($prefix . 't', 'middle'));
check('append', $m->append($prefix . 't', '-end'));
check('prepend', $m->prepend($prefix . 't', 'start-'));
check('append result', $m->get($prefix . 't') === 'start-middle-end', var_export($m->get($prefix . 't'), true));
check('append missing refused', !$m->append($prefix . 'nokey', 'x'));

// getMulti (one multi-get line), with and without misses
$keys = [];
for ($i = 0; $i < 50; $i++) {
    $keys[] = $prefix . 'multi' . $i;
    check("set multi $i", $m->set($prefix . 'multi' . $i, "value $i"));
}
$many = $m->getMulti(array_merge($keys, [$prefix . 'absent1', $prefix . 'absent2']));
check('getMulti count', is_array($many) && count($many) === 50, var_export(is_array($many) ? count($many) : $many, true));
$allRight = true;
for ($i = 0; $i < 50; $i++) {
    $allRight = $allRight && $many[$prefix . 'multi' . $i] === "value $i";
}
check('getMulti values', $allRight);
$withCas = $m->getMulti([$prefix . 'multi0', $prefix . 'multi1'], Memcached::GET_EXTENDED);
check('getMulti with cas', isset($withCas[$prefix . 'multi0']['cas']) && $withCas[$prefix . 'multi0']['cas'] > 0);

// setMulti / deleteMulti
check('setMulti', $m->setMulti([$prefix . 'sm1' => 'a', $prefix . 'sm2' => 'b']));
check('setMulti result', $m->getMulti([$prefix . 'sm1', $prefix . 'sm2']) === [$prefix . 'sm1' => 'a', $prefix . 'sm2' => 'b']);

// delete
check('delete', $m->delete($prefix . 's'));
check('deleted', $m->get($prefix . 's') === false);
check('delete missing', !$m->delete($prefix . 's') && $m->getResultCode() === Memcached::RES_NOTFOUND);

// touch and expiry in the past
check('touch', $m->touch($prefix . 't', 1000));
check('touch keeps value', $m->get($prefix . 't') === 'start-middle-end');
check('set expired', $m->set($prefix . 'gone', 'x', -1));
check('expired is a miss', $m->get($prefix . 'gone') === false);

// versions and stats come back for the server
$versions = $m->getVersion();
check('version', is_array($versions) && count($versions) === 1 && array_values($versions)[0] === '1.6.18', var_export($versions, true));
$stats = $m->getStats();
$one = array_values($stats)[0];
check('stats', isset($one['curr_items']) && $one['curr_items'] > 0 && isset($one['pid']), var_export(array_keys($one), true));

echo "all ok\n";
