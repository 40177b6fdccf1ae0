// Package plan is the pure core of the service mirror: it parses a Link,
// names mirror objects, decides which labels and annotations they carry,
// computes the desired local objects for one remote Service, and plans the
// writes that make the local cluster match (Make).
//
// What it may do: read its arguments. What it may not: talk to an API
// server, resolve names, open connections, read a clock or keep state
// (TestPlanImportsNothingThatTalks fails if it imports client-go's
// clients, net, net/http or calls time.Now). The engine in package mirror
// observes the two clusters, hands Make one Observed value, and carries out
// the Plan it returns; every rule that decides what lands in the local
// cluster is therefore tested here with plain table tests and no fakes.
//
// # The decision table of Make
//
// For one remote Service, with M its mirror name and "ours" meaning the
// ownership labels of this Link and a remote-svc-fq-name naming this
// Service (see ownership.go):
//
//	remote Service          local objects at M                   outcome   writes
//	----------------------  -----------------------------------  --------  ------------------------------------------
//	gone or not exported    none, or not ours                    Removed   none
//	gone or not exported    ours                                 Removed   delete endpoint mirrors, Endpoints, Service
//	(Link being deleted)    ours                                 Removed   as above, whatever the remote holds
//	exported, namespace     -                                    Skipped   none (MissingNamespace; mirrored when
//	  missing                                                              the namespace appears, or created first
//	                                                                       with --enable-namespace-creation)
//	exported, no ports or   -                                    Skipped   none (InvalidService, until it changes)
//	  an unusable name
//	exported                labelled ours, another fq-name, or   Skipped   none (Conflict, retried on a timer)
//	                        (found at write time) unlabelled
//	exported                none                                 Mirrored  create Service, create Endpoints
//	exported                ours, owned fields equal             Mirrored  none
//	exported                ours, owned fields differ            Mirrored  update (a copy, owned fields from desired)
//	exported, headless      ours, ClusterIP (or the reverse)     Mirrored  recreate Service (the API server cannot
//	  flips                                                                change it in place)
//	remote-discovery mode   ours, with Endpoints                 Mirrored  update Service, delete Endpoints
//	headless with ready     any                                  Mirrored  phase 1: endpoint mirrors (Service and
//	  hostnames                                                            Endpoints per hostname) and the headless
//	                                                                       Service; stale endpoint mirrors deleted;
//	                                                                       phase 2: the headless Endpoints, one
//	                                                                       address per endpoint mirror ClusterIP
//
// Owned fields, compared after normalising (PlanService, PlanEndpoints,
// PlanSlice): the whole label and annotation maps, spec.type, spec.selector
// (always empty), spec.ports and headlessness of Services; the subsets of
// Endpoints; the addressType, endpoints and ports of EndpointSlices. Server-assigned fields (clusterIP, ipFamilies, nodePorts,
// resourceVersion, status) are never compared and are kept on update.
// Owned fields are compared through their digests (OwnedDigest), so that
// the local caches may keep the digest instead of the fields (Local.Owned).
//
// The names, labels and annotations follow Linkerd's multicluster extension
// (see compat.md) so that the daemon is a drop-in for Linkerd's per-Link
// service-mirror controller.
package plan
