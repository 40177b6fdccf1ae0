// Package mirror is the engine: it observes the local and remote clusters,
// asks package plan what to write, and writes it. One remote change travels
// in one direction through files that each hold one concern:
//
//   - remote/ (another package) watches the remote cluster and calls
//     Engine.remoteChanged, which queues a small key (queue/);
//   - servicesync.go: a worker syncs the key: observe → plan → apply →
//     verdict;
//   - observe.go gathers the Link, the remote Service and endpoints, the
//     cached local objects, the namespace and the gateway set into one
//     plan.Observed (caches only, but for one live remote read before a
//     deletion);
//   - plan.Make (pure) lists the changes;
//   - apply.go carries them out through the writers (writer.go), which keep
//     the overlay of our own recent writes (recent.go) that the local caches
//     (local.go) may not show yet;
//   - report.go and status.go record the outcome: the mode gauge, the Link
//     status (written on a key of its own, debounced) and Events.
//
// Around that: links.go watches the Link and its Secret, linksync.go applies
// them (credentials, remote connection, finalizer), connection.go holds the
// Link and the remote connection under one lock (each sync takes one
// snapshot), deletion.go removes every mirror when the Link goes, and
// gateway.go owns the gateway set (resolve and probe loops). memoryguard.go
// holds back new mirrors (and only those) while the process is near its
// memory limit: servicesync.go asks it once per plan.
//
// What it may do: talk to both API servers, probe the gateway, keep state.
// What it may not: decide what a mirror looks like; that is plan's.
package mirror
