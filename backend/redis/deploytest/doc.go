// Package deploytest tests the Redis store on real replicated
// deployments started on loopback: a Redis Cluster of three masters with
// a replica each, and a master and replica watched by three sentinels.
// It runs the conformance suite on both, flows across queues under one
// slot tag on Cluster, and producers and workers through failovers and
// resharding. It has no API; its tests skip without redis-server,
// redis-cli and redis-sentinel, unless DROVER_REQUIRE_REDIS=1.
package deploytest
