package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// maxNameLength is the limit on Service names (DNS-1035 labels).
const maxNameLength = 63

// nameHashLength is how many hex characters of sha256 the short form keeps:
// 40 bits, so an accidental collision between two long names that share a
// prefix is about one in a trillion.
const nameHashLength = 10

// MirrorName returns the local name of the mirror of remoteName, for the
// remote cluster named cluster. It names mirror Services and their Endpoints
// from the remote Service's name, and endpoint mirrors from a pod hostname.
//
// The rule:
//
//   - "<remoteName>-<cluster>" when that is at most 63 characters, which is
//     the name Linkerd uses, so existing mirrors keep their names.
//   - Otherwise "<prefix>-<hash>-<cluster>", where hash is the first 10 hex
//     characters of sha256(remoteName) and prefix is remoteName cut so that
//     the whole name is at most 63 characters, with trailing '-' trimmed.
//     For a 70-character remote name and cluster "east", that is the first
//     47 characters of the name, "-", the hash, "-east".
//
// The result depends only on the inputs, so it is stable across restarts and
// versions; two long names that differ anywhere get different hashes. A short
// remote name cannot produce the long form by accident (the short form always
// applies to it), but a remote Service may deliberately be named like another
// one's short form: names are therefore never parsed back, and the engine
// identifies a mirror's source by its remote-svc-fq-name annotation.
//
// ParseLink limits cluster names to MaxClusterNameLength (40) characters so
// that at least 11 characters of the remote name always survive.
func MirrorName(remoteName, cluster string) string {
	full := remoteName + "-" + cluster
	if len(full) <= maxNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(remoteName))
	suffix := "-" + hex.EncodeToString(sum[:])[:nameHashLength] + "-" + cluster
	keep := max(maxNameLength-len(suffix), 0)
	prefix := strings.TrimRight(remoteName[:min(keep, len(remoteName))], "-")
	if prefix == "" {
		// Only reachable with a cluster name longer than ParseLink allows;
		// the result is then too long, and DesiredFor rejects it loudly.
		return strings.TrimPrefix(suffix, "-")
	}
	return prefix + suffix
}

// FQName is the remote-svc-fq-name of a remote Service:
// "<name>.<namespace>.svc.<domain>".
func FQName(name, namespace, domain string) string {
	return fmt.Sprintf("%s.%s.svc.%s", name, namespace, domain)
}

// EndpointMirrorFQName is the remote-svc-fq-name of an endpoint mirror:
// "<hostname>.<name>.<namespace>.svc.<domain>", the DNS name of one pod of a
// headless remote Service.
func EndpointMirrorFQName(hostname, name, namespace, domain string) string {
	return hostname + "." + FQName(name, namespace, domain)
}

// RemoteFromFQName returns the namespace and name of the remote Service that a
// mirror's remote-svc-fq-name ("<name>.<ns>.svc.<domain>") designates. Service
// and namespace names cannot contain dots, so the first two labels are exact.
// ok is false for anything not of that shape.
func RemoteFromFQName(fq string) (namespace, name string, ok bool) {
	parts := strings.Split(fq, ".")
	if len(parts) < 4 || parts[2] != "svc" || slices.Contains(parts, "") {
		return "", "", false
	}
	return parts[1], parts[0], true
}

// RemoteFromEndpointMirrorFQName is RemoteFromFQName for an endpoint mirror,
// whose remote-svc-fq-name is "<host>.<name>.<ns>.svc.<domain>". The caller
// knows it holds an endpoint mirror from the headless-mirror-svc-name label;
// the two shapes cannot be told apart from the string alone.
func RemoteFromEndpointMirrorFQName(fq string) (namespace, name, hostname string, ok bool) {
	host, rest, found := strings.Cut(fq, ".")
	if !found || host == "" {
		return "", "", "", false
	}
	namespace, name, ok = RemoteFromFQName(rest)
	if !ok {
		return "", "", "", false
	}
	return namespace, name, host, true
}

// LeaseName is the Lease Linkerd's service mirror elects its writer on; the
// same name makes a swap between the two controllers hand off cleanly
// instead of running two writers, and lets `linkerd multicluster gateways`
// and `svcmirror check` find the leader's pod through the holder.
func LeaseName(link string) string { return "service-mirror-write-" + link }
