<?php
// contrib/php/index.php: store 'key' in the cache, then read it back.
$mc = new Memcached();
$mc->addServer('127.0.0.1', (int) (getenv('MEMCACHED_PORT') ?: 11211));

if (!$mc->set('key', 'Hello from memcached-server!', 300)) {
    http_response_code(500);
    echo 'set failed: ' . $mc->getResultMessage() . "\n";
    exit(1);
}
$value = $mc->get('key');
if ($mc->getResultCode() !== Memcached::RES_SUCCESS) {
    http_response_code(500);
    echo 'get failed: ' . $mc->getResultMessage() . "\n";
    exit(1);
}
header('Content-Type: text/plain');
echo "key = $value\n";
