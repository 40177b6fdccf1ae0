package plan

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

type parseLinkCase struct {
	name string
	obj  *unstructured.Unstructured
	want *Link
}

// validLinkCases also seed FuzzParseLink.
var validLinkCases = []parseLinkCase{
	{
		name: "A Link as Linkerd's CLI writes it parses into every field",
		obj:  linkObject(),
		want: parsedLink(),
	},
	{
		name: "An empty targetClusterDomain defaults to cluster.local",
		obj:  linkObject(set("spec.targetClusterDomain", "")),
		want: parsedLink(),
	},
	{
		name: "A custom targetClusterDomain is kept",
		obj:  linkObject(set("spec.targetClusterDomain", "east.example")),
		want: parsedLink(withDomain("east.example")),
	},
	{
		name: "A 40-character cluster name is accepted",
		obj:  linkObject(set("spec.targetClusterName", "a234567890123456789012345678901234567890")),
		want: parsedLink(func(l *Link) { l.TargetClusterName = "a234567890123456789012345678901234567890" }),
	},
	{
		name: "A gatewayAddress list is split on commas, trimmed and stripped of empty entries",
		obj:  linkObject(set("spec.gatewayAddress", " 10.0.0.1, gw.example.com,,2001:db8::1 ,")),
		want: parsedLink(func(l *Link) { l.GatewayAddresses = []string{"10.0.0.1", "gw.example.com", "2001:db8::1"} }),
	},
	{
		name: "An empty gatewayAddress makes a flat-only link whose gatewayPort is ignored",
		obj:  linkObject(set("spec.gatewayAddress", ""), set("spec.gatewayPort", "0"), set("spec.gatewayIdentity", "")),
		want: parsedLink(withoutGateway()),
	},
	{
		name: "A missing gatewayAddress also makes a flat-only link",
		obj:  linkObject(unset("spec.gatewayAddress"), unset("spec.gatewayPort"), unset("spec.gatewayIdentity")),
		want: parsedLink(withoutGateway()),
	},
	{
		name: "A missing probeSpec disables probing",
		obj:  linkObject(unset("spec.probeSpec")),
		want: parsedLink(withProbe(ProbeSpec{})),
	},
	{
		name: "A probeSpec without a path is ignored, placeholder values and all",
		obj: linkObject(set("spec.probeSpec", map[string]any{
			"path": "", "port": "0", "period": "0s", "timeout": "", "failureThreshold": "0",
		})),
		want: parsedLink(withProbe(ProbeSpec{})),
	},
	{
		name: "Empty probe period, timeout and failureThreshold take their defaults",
		obj: linkObject(set("spec.probeSpec", map[string]any{
			"path": "/ready", "port": "4191", "period": "", "timeout": "",
		})),
		want: parsedLink(withProbe(ProbeSpec{Path: "/ready", Port: 4191, Period: 3 * time.Second, Timeout: 30 * time.Second, FailureThreshold: 3})),
	},
	{
		name: "Explicit probe values are kept",
		obj: linkObject(set("spec.probeSpec", map[string]any{
			"path": "/live", "port": "9999", "period": "1m30s", "timeout": "500ms", "failureThreshold": "10",
		})),
		want: parsedLink(withProbe(ProbeSpec{Path: "/live", Port: 9999, Period: 90 * time.Second, Timeout: 500 * time.Millisecond, FailureThreshold: 10})),
	},
	{
		name: "Missing selectors select nothing",
		obj:  linkObject(unset("spec.selector"), unset("spec.remoteDiscoverySelector"), unset("spec.federatedServiceSelector")),
		want: parsedLink(withSelectors(labels.Nothing(), labels.Nothing(), labels.Nothing())),
	},
	{
		name: "Empty and null selectors select nothing, never everything",
		obj: linkObject(
			set("spec.selector", map[string]any{}),
			set("spec.remoteDiscoverySelector", map[string]any{"matchLabels": map[string]any{}, "matchExpressions": []any{}}),
			set("spec.federatedServiceSelector", nil)),
		want: parsedLink(withSelectors(labels.Nothing(), labels.Nothing(), labels.Nothing())),
	},
	{
		name: "matchExpressions with every operator parse into one selector with matchLabels",
		obj: linkObject(set("spec.selector", map[string]any{
			"matchLabels": map[string]any{"team": "web"},
			"matchExpressions": []any{
				expr("tier", "In", "front", "back"), expr("env", "NotIn", "dev"),
				expr("exported", "Exists"), expr("private", "DoesNotExist", []any{}...),
			},
		})),
		want: parsedLink(func(l *Link) {
			sel, err := labels.Parse("team=web,tier in (back,front),env notin (dev),exported,!private")
			if err != nil {
				panic(err)
			}
			l.Selector = sel
		}),
	},
	{
		name: "An empty label value in matchLabels is legal",
		obj:  linkObject(set("spec.selector", matchLabels("exported", ""))),
		want: parsedLink(func(l *Link) { l.Selector = labels.SelectorFromSet(labels.Set{"exported": ""}) }),
	},
	{
		name: "Exclusions are kept in order without empty entries",
		obj: linkObject(
			set("spec.excludedLabels", []any{"team", "", "example.com/*"}),
			set("spec.excludedAnnotations", []any{"kubectl.kubernetes.io/last-applied-configuration"})),
		want: parsedLink(
			withExcludedLabels("team", "example.com/*"),
			withExcludedAnnotations("kubectl.kubernetes.io/last-applied-configuration")),
	},
	{
		name: "A deletionTimestamp marks the Link as being deleted",
		obj:  linkObject(set("metadata.deletionTimestamp", "2026-01-02T03:04:05Z")),
		want: parsedLink(func(l *Link) { l.DeletionRequested = true }),
	},
}

func TestParseLink(t *testing.T) {
	for _, tc := range validLinkCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLink(tc.obj)
			if err != nil {
				t.Fatalf("ParseLink() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpLink); diff != "" {
				t.Errorf("ParseLink() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLinkDoesNotModifyItsInput(t *testing.T) {
	obj := linkObject(set("spec.gatewayAddress", " a.example.com , b.example.com"))
	before := obj.DeepCopy()
	if _, err := ParseLink(obj); err != nil {
		t.Fatalf("ParseLink() error = %v", err)
	}
	if diff := cmp.Diff(before.Object, obj.Object); diff != "" {
		t.Errorf("ParseLink() modified its input (-before +after):\n%s", diff)
	}
}

func TestLinkModeFor(t *testing.T) {
	gatewayOnly := map[string]string{"mirror.linkerd.io/exported": "true"}
	flatOnly := map[string]string{"mirror.linkerd.io/exported": "remote-discovery"}
	both := testLink(withSelectors(
		labels.SelectorFromSet(labels.Set{"app": "web"}),
		labels.SelectorFromSet(labels.Set{"flat": "yes"}),
		labels.Nothing()))
	for _, tc := range []struct {
		name   string
		link   *Link
		labels map[string]string
		want   Mode
	}{
		{"A Service matching the selector is exported in gateway mode", testLink(), gatewayOnly, ModeGateway},
		{"A Service matching the remote-discovery selector is exported flat", testLink(), flatOnly, ModeRemoteDiscovery},
		{"The remote-discovery selector wins when both match", both, map[string]string{"app": "web", "flat": "yes"}, ModeRemoteDiscovery},
		{"A Service matching only the gateway selector of such a Link is in gateway mode", both, map[string]string{"app": "web"}, ModeGateway},
		{"A Service matching neither selector is not exported", testLink(), map[string]string{"app": "web"}, ModeNone},
		{"A Service without labels is not exported", testLink(), nil, ModeNone},
		{"A Link whose selectors select nothing exports nothing", testLink(withSelectors(labels.Nothing(), labels.Nothing(), labels.Nothing())), gatewayOnly, ModeNone},
		{"A hand-built Link with nil selectors exports nothing", &Link{TargetClusterName: testCluster}, gatewayOnly, ModeNone},
		{"A nil Link exports nothing", nil, gatewayOnly, ModeNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.link.ModeFor(tc.labels); got != tc.want {
				t.Errorf("ModeFor(%v) = %q, want %q", tc.labels, got, tc.want)
			}
		})
	}
}

func TestProbeSpecEnabled(t *testing.T) {
	if (ProbeSpec{}).Enabled() {
		t.Error("the zero ProbeSpec is enabled, want disabled")
	}
	if !(ProbeSpec{Path: "/ready"}).Enabled() {
		t.Error("a ProbeSpec with a path is disabled, want enabled")
	}
}

func TestLinkGVR(t *testing.T) {
	if got, want := LinkGVR.String(), "multicluster.linkerd.io/v1alpha3, Resource=links"; got != want {
		t.Errorf("LinkGVR = %q, want %q", got, want)
	}
}
