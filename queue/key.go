// Package queue is svcmirror's typed work queue: small comparable keys,
// several workers, per-key exponential back-off for transient errors, and
// a clear verdict for each sync (done, retry, retry later, or give up).
package queue

import "fmt"

// Kind says what a Key names.
type Kind uint8

const (
	// KindService names a remote Service by its namespace and name. One sync
	// brings everything mirrored from it up to date: the mirror Service, its
	// Endpoints, and a headless Service's endpoint mirrors.
	KindService Kind = iota + 1
	// KindLink names the Link itself: its configuration, credentials and
	// finalizer.
	KindLink
	// KindStatus names the Link's status, written on a key of its own so
	// that a burst of changes costs one debounced write and never re-runs
	// the Link sync.
	KindStatus
	// KindProbe names the Link's probe Service and Endpoints
	// (probe-gateway-<link>), which Linkerd's tooling reads.
	KindProbe

	// kindWake wakes a worker blocked in Get when its Run ends; it is never
	// synced.
	kindWake Kind = 255
)

func (k Kind) String() string {
	switch k {
	case KindService:
		return "Service"
	case KindLink:
		return "Link"
	case KindStatus:
		return "Status"
	case KindProbe:
		return "Probe"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// Key is one unit of work. It is small and comparable so that bursts of
// events for one object collapse into one queued item, and a sync always
// reads the current state instead of an event's snapshot.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
}

// ServiceKey names the remote Service namespace/name.
func ServiceKey(namespace, name string) Key {
	return Key{Kind: KindService, Namespace: namespace, Name: name}
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind.String() + ":" + k.Name
	}
	return k.Kind.String() + ":" + k.Namespace + "/" + k.Name
}
