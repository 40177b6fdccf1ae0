package plan

import (
	"encoding/json"
	"errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type invalidLinkCase struct {
	name string
	obj  *unstructured.Unstructured
	// problems must match InvalidLinkError.Problems one for one; each entry
	// is a substring of its problem (long validation messages are not
	// repeated here in full).
	problems []string
}

// invalidLinkCases also seed FuzzParseLink.
var invalidLinkCases = []invalidLinkCase{
	{"A Link without a spec is rejected", linkObject(unset("spec")), []string{"spec: is required"}},
	{"A spec that is not an object is rejected", linkObject(set("spec", "east")), []string{"spec: must be an object, not a string"}},

	{"A missing targetClusterName is rejected", linkObject(unset("spec.targetClusterName")), []string{"spec.targetClusterName: is required"}},
	{"An empty targetClusterName is rejected", linkObject(set("spec.targetClusterName", "")), []string{"spec.targetClusterName: is required"}},
	{"A targetClusterName that is a number is rejected", linkObject(set("spec.targetClusterName", 42.0)), []string{"spec.targetClusterName: must be a string, not a number"}},
	{"A targetClusterName with capitals is not a DNS-1123 label", linkObject(set("spec.targetClusterName", "East")), []string{`spec.targetClusterName: "East" is not a valid DNS-1123 label`}},
	{"A targetClusterName with dots is not a DNS-1123 label", linkObject(set("spec.targetClusterName", "east.example")), []string{`"east.example" is not a valid DNS-1123 label: must not contain dots`}},
	{"A targetClusterName over 40 characters is rejected", linkObject(set("spec.targetClusterName", strings.Repeat("a", 41))), []string{"is longer than 40 characters"}},
	{"A targetClusterDomain that is not a domain is rejected", linkObject(set("spec.targetClusterDomain", "cluster..local")), []string{`spec.targetClusterDomain: "cluster..local" is not a valid DNS domain`}},

	{"A missing clusterCredentialsSecret is rejected", linkObject(unset("spec.clusterCredentialsSecret")), []string{"spec.clusterCredentialsSecret: is required"}},
	{"A clusterCredentialsSecret that is not a Secret name is rejected", linkObject(set("spec.clusterCredentialsSecret", "Creds_East")), []string{`spec.clusterCredentialsSecret: "Creds_East" is not a valid Secret name`}},

	{"A gatewayAddress without a gatewayPort is rejected", linkObject(unset("spec.gatewayPort")), []string{"spec.gatewayPort: is required when spec.gatewayAddress is set"}},
	{"A gatewayPort that is not a number is rejected", linkObject(set("spec.gatewayPort", "abc")), []string{`spec.gatewayPort: "abc" is not a port number (1-65535)`}},
	{"A gatewayPort of 0 is rejected", linkObject(set("spec.gatewayPort", "0")), []string{`spec.gatewayPort: "0" is not a port number`}},
	{"A gatewayPort above 65535 is rejected", linkObject(set("spec.gatewayPort", "65536")), []string{`spec.gatewayPort: "65536" is not a port number`}},
	{"A negative gatewayPort is rejected", linkObject(set("spec.gatewayPort", "-1")), []string{`spec.gatewayPort: "-1" is not a port number`}},
	{"A gatewayPort given as a JSON number is rejected", linkObject(set("spec.gatewayPort", int64(4143))), []string{"spec.gatewayPort: must be a string, not a number"}},
	{"A gatewayAddress entry that is a URL is rejected", linkObject(set("spec.gatewayAddress", "10.0.0.1,http://gw")), []string{`spec.gatewayAddress: "http://gw" is neither an IP address nor a DNS name`}},
	{"A gatewayAddress that is a list is rejected", linkObject(set("spec.gatewayAddress", []any{"10.0.0.1"})), []string{"spec.gatewayAddress: must be a string, not a list"}},

	{"A probeSpec that is a string is rejected", linkObject(set("spec.probeSpec", "/ready")), []string{"spec.probeSpec: must be an object, not a string"}},
	{"A probe path without a port is rejected", linkObject(unset("spec.probeSpec.port")), []string{"spec.probeSpec.port: is required when spec.probeSpec.path is set"}},
	{"A probe path not starting with a slash is rejected", linkObject(set("spec.probeSpec.path", "ready")), []string{`spec.probeSpec.path: "ready" must start with "/"`}},
	{"A probe port that is a name is rejected", linkObject(set("spec.probeSpec.port", "admin")), []string{`spec.probeSpec.port: "admin" is not a port number (1-65535)`}},
	{"A probe period without a unit is rejected", linkObject(set("spec.probeSpec.period", "3")), []string{`spec.probeSpec.period: "3" is not a positive duration`}},
	{"A negative probe period is rejected", linkObject(set("spec.probeSpec.period", "-1s")), []string{`spec.probeSpec.period: "-1s" is not a positive duration`}},
	{"A zero probe timeout is rejected", linkObject(set("spec.probeSpec.timeout", "0s")), []string{`spec.probeSpec.timeout: "0s" is not a positive duration`}},
	{"A probe timeout that is not a duration is rejected", linkObject(set("spec.probeSpec.timeout", "forever")), []string{`spec.probeSpec.timeout: "forever" is not a positive duration`}},
	{"A failureThreshold of 0 is rejected", linkObject(set("spec.probeSpec.failureThreshold", "0")), []string{`spec.probeSpec.failureThreshold: "0" is not a positive integer`}},
	{"A failureThreshold in words is rejected", linkObject(set("spec.probeSpec.failureThreshold", "three")), []string{`spec.probeSpec.failureThreshold: "three" is not a positive integer`}},
	{"A probe port that is a JSON number is rejected even without a path", linkObject(set("spec.probeSpec", map[string]any{"port": 4191.0})), []string{"spec.probeSpec.port: must be a string, not a number"}},

	{"A selector that is a string is rejected", linkObject(set("spec.selector", "mirror.linkerd.io/exported=true")), []string{"spec.selector: must be an object, not a string"}},
	{"A selector with a misspelt field is rejected", linkObject(set("spec.selector", map[string]any{"matchLabel": map[string]any{"a": "b"}})), []string{`spec.selector: unknown field "matchLabel"`}},
	{"A selector with an unknown operator is rejected", linkObject(set("spec.selector", matchExpressions(expr("a", "Equals", "b")))), []string{`spec.selector.matchExpressions[0]: "Equals" is not a valid label selector operator`}},
	{"An In expression without values is rejected", linkObject(set("spec.remoteDiscoverySelector", matchExpressions(expr("a", "Exists"), expr("b", "In")))), []string{"spec.remoteDiscoverySelector.matchExpressions[1]: values: Invalid value"}},
	{"An Exists expression with values is rejected", linkObject(set("spec.federatedServiceSelector", matchExpressions(expr("a", "Exists", "x")))), []string{"spec.federatedServiceSelector.matchExpressions[0]: values: Invalid value"}},
	{"An expression without a key is rejected", linkObject(set("spec.selector", matchExpressions(map[string]any{"operator": "Exists"}))), []string{"spec.selector.matchExpressions[0].key: is required"}},
	{"An expression that is a string is rejected", linkObject(set("spec.selector", map[string]any{"matchExpressions": []any{"a in (b)"}})), []string{"spec.selector.matchExpressions[0]: must be an object, not a string"}},
	{"An expression with a number among its values is rejected", linkObject(set("spec.selector", matchExpressions(expr("a", "In", "x", 1.0)))), []string{"spec.selector.matchExpressions[0].values[1]: must be a string, not a number"}},
	{"matchExpressions that is an object is rejected", linkObject(set("spec.selector", map[string]any{"matchExpressions": map[string]any{}})), []string{"spec.selector.matchExpressions: must be a list, not an object"}},
	{"matchLabels that is a list is rejected", linkObject(set("spec.selector", map[string]any{"matchLabels": []any{"a=b"}})), []string{"spec.selector.matchLabels: must be an object, not a list"}},
	{"A matchLabels value that is a boolean is rejected", linkObject(set("spec.selector", map[string]any{"matchLabels": map[string]any{"exported": true}})), []string{`spec.selector.matchLabels["exported"]: must be a string, not a boolean`}},
	{"A matchLabels value that is not a label value is rejected", linkObject(set("spec.selector", matchLabels("exported", "not valid!"))), []string{`spec.selector.matchLabels["exported"]: `}},
	{"A matchLabels key that is not a label key is rejected", linkObject(set("spec.selector", matchLabels("bad key", "x"))), []string{`spec.selector.matchLabels["bad key"]: `}},

	{"excludedLabels that is a string is rejected", linkObject(set("spec.excludedLabels", "team")), []string{"spec.excludedLabels: must be a list of strings, not a string"}},
	{"An excludedAnnotations entry that is a number is rejected", linkObject(set("spec.excludedAnnotations", []any{"a", 1.0})), []string{"spec.excludedAnnotations[1]: must be a string, not a number"}},

	{
		"Every problem is reported at once, in field order",
		linkObject(unset("spec.targetClusterName"), set("spec.gatewayPort", "x"), set("spec.selector", "y"), set("spec.excludedLabels", 1.0)),
		[]string{"spec.targetClusterName: is required", `spec.gatewayPort: "x"`, "spec.selector: must be an object", "spec.excludedLabels: must be a list"},
	},
}

func TestParseLinkRejectsInvalidLinks(t *testing.T) {
	for _, tc := range invalidLinkCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLink(tc.obj)
			if err == nil {
				t.Fatalf("ParseLink() = %+v, want an error", got)
			}
			var ile *InvalidLinkError
			if !errors.As(err, &ile) {
				t.Fatalf("ParseLink() error = %T %v, want *InvalidLinkError", err, err)
			}
			if len(ile.Problems) != len(tc.problems) {
				t.Fatalf("ParseLink() problems = %q, want %d matching %q", ile.Problems, len(tc.problems), tc.problems)
			}
			for i, want := range tc.problems {
				if !strings.Contains(ile.Problems[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ile.Problems[i], want)
				}
			}
		})
	}
}

func TestParseLinkErrorNamesTheLink(t *testing.T) {
	_, err := ParseLink(linkObject(set("spec.gatewayPort", "abc")))
	want := `invalid Link linkerd-multicluster/east: spec.gatewayPort: "abc" is not a port number (1-65535)`
	if err == nil || err.Error() != want {
		t.Errorf("ParseLink() error = %v, want %q", err, want)
	}
}

func TestParseLinkRejectsANilObject(t *testing.T) {
	if _, err := ParseLink(nil); err == nil {
		t.Error("ParseLink(nil) returned no error")
	}
	if _, err := ParseLink(&unstructured.Unstructured{}); err == nil {
		t.Error("ParseLink(empty object) returned no error")
	}
}

// FuzzParseLink checks that no input makes ParseLink panic, and that success
// always means a usable Link.
func FuzzParseLink(f *testing.F) {
	for _, tc := range validLinkCases {
		f.Add(mustJSON(f, tc.obj.Object))
	}
	for _, tc := range invalidLinkCases {
		f.Add(mustJSON(f, tc.obj.Object))
	}
	f.Add([]byte(`{"spec":{"targetClusterName":"x","clusterCredentialsSecret":"s","selector":{"matchExpressions":[{"key":"a","operator":"In","values":null}]}}}`))
	f.Add([]byte(`{"metadata":[],"spec":{"targetClusterName":"x","clusterCredentialsSecret":"s","probeSpec":{"path":"/","port":"1","period":"9999999999h"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil {
			return
		}
		l, err := ParseLink(&unstructured.Unstructured{Object: obj})
		if err != nil {
			var ile *InvalidLinkError
			if !errors.As(err, &ile) || len(ile.Problems) == 0 {
				t.Fatalf("ParseLink() error = %v, want an *InvalidLinkError with problems", err)
			}
			return
		}
		if l.TargetClusterName == "" {
			t.Fatal("ParseLink() succeeded with an empty TargetClusterName")
		}
		if l.Selector == nil || l.RemoteDiscoverySelector == nil || l.FederatedServiceSelector == nil {
			t.Fatal("ParseLink() succeeded with a nil selector")
		}
		if len(l.GatewayAddresses) > 0 && l.GatewayPort == 0 {
			t.Fatal("ParseLink() succeeded with gateway addresses but no gateway port")
		}
		if errs := validation.IsDNS1035Label(MirrorName("web", l.TargetClusterName)); len(errs) > 0 {
			t.Fatalf("accepted targetClusterName %q makes invalid mirror names: %v", l.TargetClusterName, errs)
		}
	})
}

func mustJSON(f *testing.F, v any) []byte {
	f.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		f.Fatalf("Marshal: %v", err)
	}
	return data
}
