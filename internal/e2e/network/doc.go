// Package network proves the seed's network plugins (plugins/httpget and
// plugins/redis) through the real gateway: a temporary config.yaml with a
// `network:` policy per plugin, apisix.yaml routes naming the plugin conf,
// gateway.Run on a loopback port, a go-httpbin server, silent TCP servers and
// a real redis-server. The tests are in the _test.go files; this package has
// no other code.
package network
