package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OwnedDigest fingerprints an object's owned fields (see PlanService,
// PlanEndpoints, PlanSlice) in their canonical form (normalize.go): two
// objects whose owned fields compare equal have the same digest, and two
// that differ have different ones but for a 2^-128 chance. Owned fields
// are compared through it, always, so that the local caches can keep the
// digest of a mirror object instead of the fields themselves: a large
// link has three objects a mirror, and their labels, annotations, ports
// and endpoints were most of what the caches held.
type OwnedDigest [16]byte

// Digests holds the owned-field digests of the existing objects the
// caches keep in compact form, by object; an object with no entry is
// whole, and its digest is computed from it.
type Digests map[metav1.Object]OwnedDigest

func ownedDigest[T metav1.Object](d Digests, existing T, digest func(T) OwnedDigest) OwnedDigest {
	if got, ok := d[existing]; ok {
		return got
	}
	return digest(existing)
}

// ServiceDigest is the digest of a Service's owned fields: labels,
// annotations, selector, type (defaulted) and ports (normalPorts).
func ServiceDigest(svc *corev1.Service) OwnedDigest {
	d := newDigester("Service", svc)
	d.pairs(svc.Spec.Selector)
	d.str(string(serviceType(svc)))
	ports := normalPorts(svc.Spec.Ports)
	d.num(len(ports))
	for _, p := range ports {
		d.str(p.name)
		d.str(string(p.protocol))
		d.num(int(p.port))
		d.num(int(p.targetPort.Type))
		d.num(int(p.targetPort.IntVal))
		d.str(p.targetPort.StrVal)
		d.str(p.appProtocol)
	}
	return d.sum()
}

// EndpointsDigest is the digest of an Endpoints' owned fields: labels,
// annotations and subsets (normalSubsets).
func EndpointsDigest(ep *corev1.Endpoints) OwnedDigest {
	d := newDigester("Endpoints", ep)
	d.json(normalSubsets(ep.Subsets))
	return d.sum()
}

// SliceDigest is the digest of an EndpointSlice's owned fields: labels,
// annotations, address type, ports and endpoints (normalSlicePorts,
// normalSliceEndpoints).
func SliceDigest(s *discoveryv1.EndpointSlice) OwnedDigest {
	d := newDigester("EndpointSlice", s)
	d.str(string(s.AddressType))
	ports := normalSlicePorts(s.Ports)
	d.num(len(ports))
	for _, p := range ports {
		d.str(p.name)
		d.str(string(p.protocol))
		d.num(int(p.port))
		d.str(p.appProtocol)
	}
	d.json(normalSliceEndpoints(s.Endpoints))
	return d.sum()
}

// digester writes values into a hash unambiguously: every string and
// list is length-prefixed, so no two different sequences of values write
// the same bytes.
type digester struct{ h hash.Hash }

// newDigester starts the digest of an object of kind with its owned
// metadata, the whole label and annotation maps.
func newDigester(kind string, o metav1.Object) *digester {
	d := &digester{h: sha256.New()}
	d.str(kind)
	d.pairs(o.GetLabels())
	d.pairs(o.GetAnnotations())
	return d
}

func (d *digester) num(n int) {
	var b [binary.MaxVarintLen64]byte
	d.h.Write(b[:binary.PutVarint(b[:], int64(n))])
}

func (d *digester) str(s string) {
	d.num(len(s))
	d.h.Write([]byte(s))
}

// pairs writes a string map in key order; nil and empty write the same.
func (d *digester) pairs(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	d.num(len(keys))
	for _, k := range keys {
		d.str(k)
		d.str(m[k])
	}
}

// json writes v's JSON encoding, which for the API's structs is
// deterministic (fields in declaration order) and, for the normalised
// lists written here, equal exactly when they are semantically equal.
func (d *digester) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// API structs always encode; say so in the digest rather than
		// panic, so that such an object never compares equal.
		b = []byte("unencodable:" + strconv.Quote(err.Error()))
	}
	d.str(string(b))
}

func (d *digester) sum() OwnedDigest {
	var out OwnedDigest
	copy(out[:], d.h.Sum(nil))
	return out
}
