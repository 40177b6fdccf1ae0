package plan

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestMirrorName(t *testing.T) {
	for _, tc := range []struct {
		name, remote, cluster, want string
	}{
		{"A short name gets the cluster suffix, as in Linkerd", "web", "east", "web-east"},
		{"A name that fits exactly in 63 characters is kept whole", strings.Repeat("a", 58), "east", strings.Repeat("a", 58) + "-east"},
		{
			// Golden values: these names are persisted in clusters, so
			// changing the rule is a breaking change.
			"A name one character too long gets the hashed short form",
			strings.Repeat("a", 59), "east", strings.Repeat("a", 47) + "-" + "111bb26127" + "-east",
		},
		{
			"A long name keeps as much of its prefix as fits",
			"payments-api-" + strings.Repeat("x", 60), "east",
			"payments-api-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-f8619ead6a-east",
		},
		{
			"A prefix cut just after a dash loses the dash",
			strings.Repeat("a", 44) + "-" + strings.Repeat("b", 30), "target",
			strings.Repeat("a", 44) + "-2a61bbe0cf-target",
		},
		{
			"A 40-character cluster name still leaves room for part of the name",
			"web-" + strings.Repeat("x", 59), strings.Repeat("a", 40),
			"web-xxxxxxx-a73dce24c0-" + strings.Repeat("a", 40),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MirrorName(tc.remote, tc.cluster)
			if got != tc.want {
				t.Errorf("MirrorName(%q, %q) = %q, want %q", tc.remote, tc.cluster, got, tc.want)
			}
			if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
				t.Errorf("MirrorName(%q, %q) = %q is not a valid Service name: %v", tc.remote, tc.cluster, got, errs)
			}
		})
	}
}

func TestMirrorNameOfA60CharacterNameIsAValidServiceName(t *testing.T) {
	remote := "a" + strings.Repeat("b", 58) + "c"
	got := MirrorName(remote, "target")
	if len(got) > 63 {
		t.Errorf("MirrorName() = %q, %d characters, want at most 63", got, len(got))
	}
	if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
		t.Errorf("MirrorName() = %q is not a DNS-1035 label: %v", got, errs)
	}
	if !strings.HasSuffix(got, "-target") {
		t.Errorf("MirrorName() = %q, want the cluster suffix -target", got)
	}
}

func TestMirrorNamesOfLongNamesSharingAPrefixDiffer(t *testing.T) {
	prefix := strings.Repeat("x", 60)
	a, b := MirrorName(prefix+"-alpha", "target"), MirrorName(prefix+"-beta", "target")
	if a == b {
		t.Errorf("MirrorName() gave %q for two different remote names", a)
	}
	if c := MirrorName(prefix, "target"); c == a || c == b {
		t.Errorf("MirrorName(prefix) = %q collides with a longer name's mirror", c)
	}
}

func TestMirrorNameIsStable(t *testing.T) {
	remote := strings.Repeat("stateful-", 10)[:70]
	first := MirrorName(remote, "east")
	for range 10 {
		if got := MirrorName(remote, "east"); got != first {
			t.Fatalf("MirrorName() = %q, then %q", first, got)
		}
	}
}

// Any valid Service name, with any cluster name ParseLink accepts, must give a
// valid Service name of at most 63 characters.
func TestMirrorNameIsAlwaysAValidServiceName(t *testing.T) {
	for nameLen := 1; nameLen <= 63; nameLen++ {
		for clusterLen := 1; clusterLen <= MaxClusterNameLength; clusterLen++ {
			remote := "s" + strings.Repeat("-x", nameLen)[:nameLen-1]
			if strings.HasSuffix(remote, "-") {
				remote = remote[:len(remote)-1] + "y"
			}
			cluster := strings.Repeat("c", clusterLen)
			got := MirrorName(remote, cluster)
			if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
				t.Fatalf("MirrorName(%q, %q) = %q: %v", remote, cluster, got, errs)
			}
		}
	}
}

func TestFQNames(t *testing.T) {
	if got, want := FQName("web", "prod", "cluster.local"), "web.prod.svc.cluster.local"; got != want {
		t.Errorf("FQName() = %q, want %q", got, want)
	}
	if got, want := EndpointMirrorFQName("db-0", "db", "prod", "east.example"), "db-0.db.prod.svc.east.example"; got != want {
		t.Errorf("EndpointMirrorFQName() = %q, want %q", got, want)
	}
}

func TestRemoteFromFQName(t *testing.T) {
	for _, tc := range []struct {
		name, fq     string
		wantNS, want string
		wantOK       bool
	}{
		{"A Service FQDN gives its namespace and name", "web.prod.svc.cluster.local", "prod", "web", true},
		{"A custom one-label domain works", "web.prod.svc.east", "prod", "web", true},
		{"A name that looks like a mirror name is returned as is", "web-east.prod.svc.cluster.local", "prod", "web-east", true},
		{"An endpoint mirror FQDN is not a Service FQDN", "db-0.db.prod.svc.cluster.local", "", "", false},
		{"A name without the svc label is rejected", "web.prod.cluster.local", "", "", false},
		{"A name without a domain is rejected", "web.prod.svc", "", "", false},
		{"An empty label is rejected", "web..svc.cluster.local", "", "", false},
		{"An empty string is rejected", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, name, ok := RemoteFromFQName(tc.fq)
			if ns != tc.wantNS || name != tc.want || ok != tc.wantOK {
				t.Errorf("RemoteFromFQName(%q) = (%q, %q, %v), want (%q, %q, %v)", tc.fq, ns, name, ok, tc.wantNS, tc.want, tc.wantOK)
			}
		})
	}
}

func TestRemoteFromEndpointMirrorFQName(t *testing.T) {
	for _, tc := range []struct {
		name, fq               string
		wantNS, want, wantHost string
		wantOK                 bool
	}{
		{"An endpoint mirror FQDN gives namespace, Service and hostname", "db-0.db.prod.svc.cluster.local", "prod", "db", "db-0", true},
		{"A Service FQDN is not an endpoint mirror FQDN", "db.prod.svc.cluster.local", "", "", "", false},
		{"A leading dot is rejected", ".db.prod.svc.cluster.local", "", "", "", false},
		{"A bare hostname is rejected", "db-0", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, name, host, ok := RemoteFromEndpointMirrorFQName(tc.fq)
			if ns != tc.wantNS || name != tc.want || host != tc.wantHost || ok != tc.wantOK {
				t.Errorf("RemoteFromEndpointMirrorFQName(%q) = (%q, %q, %q, %v), want (%q, %q, %q, %v)",
					tc.fq, ns, name, host, ok, tc.wantNS, tc.want, tc.wantHost, tc.wantOK)
			}
		})
	}
}

func TestFQNamesRoundTrip(t *testing.T) {
	ns, name, ok := RemoteFromFQName(FQName("web", "prod", "cluster.local"))
	if !ok || ns != "prod" || name != "web" {
		t.Errorf("round trip gave (%q, %q, %v)", ns, name, ok)
	}
	ns, name, host, ok := RemoteFromEndpointMirrorFQName(EndpointMirrorFQName("db-1", "db", "prod", "cluster.local"))
	if !ok || ns != "prod" || name != "db" || host != "db-1" {
		t.Errorf("endpoint mirror round trip gave (%q, %q, %q, %v)", ns, name, host, ok)
	}
}
