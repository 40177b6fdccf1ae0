// Package mirror holds the pure core of the service mirror: parsing a Link,
// naming mirror objects, deciding which labels and annotations they carry,
// computing the desired local objects for one remote Service, and diffing
// desired against existing objects.
//
// Nothing in this package talks to an API server, reads a clock or keeps
// state. The engine feeds it objects from informers and performs the writes it
// plans, so every rule that decides what lands in the local cluster can be
// tested with plain table tests.
//
// The names, labels and annotations follow Linkerd's multicluster extension
// (see compat.md) so that the daemon is a drop-in for Linkerd's per-Link
// service-mirror controller.
package mirror
