package manifests

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestEveryFileParses checks that each manifest decodes into exactly the objects it is meant
// to hold, each with apiVersion, kind and metadata.name, and that no file is left untested.
func TestEveryFileParses(t *testing.T) {
	tests := []struct {
		file string
		want []string // "Kind/name", in file order
	}{
		{"crd-link.yaml", []string{"CustomResourceDefinition/links.multicluster.linkerd.io"}},
		{"rbac-local.yaml", []string{
			"Namespace/linkerd-multicluster",
			"ServiceAccount/svcmirror-target", "ClusterRole/svcmirror-target", "ClusterRoleBinding/svcmirror-target",
			"Role/svcmirror-target", "RoleBinding/svcmirror-target",
		}},
		{"rbac-remote.yaml", []string{
			"ServiceAccount/svcmirror-remote-reader", "ClusterRole/svcmirror-remote-reader",
			"ClusterRoleBinding/svcmirror-remote-reader",
			"Role/svcmirror-remote-reader-token", "RoleBinding/svcmirror-remote-reader-token",
			"Secret/svcmirror-remote-reader-token",
		}},
		{"link-example.yaml", []string{"Link/target", "Secret/cluster-credentials-target"}},
		{"deployment.yaml", []string{"Deployment/svcmirror-target", "Service/svcmirror-target-metrics", "PodDisruptionBudget/svcmirror-target"}},
	}
	var tested []string
	for _, tt := range tests {
		tested = append(tested, tt.file)
		t.Run(tt.file, func(t *testing.T) {
			objs, err := Objects(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
					t.Errorf("object %v lacks apiVersion, kind or metadata.name", o.Object)
				}
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("objects = %q, want %q", got, tt.want)
			}
		})
	}
	files, err := fs.Glob(Files, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tested)
	if !slices.Equal(files, tested) {
		t.Errorf("embedded files = %q, but the table tests %q", files, tested)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"empty and comment-only documents are skipped",
			"---\n# just a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n\n---\n",
			[]string{"Service/a"}, false},
		{"documents keep their order",
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n",
			[]string{"Service/a", "Secret/b"}, false},
		{"an empty file has no objects", "", nil, false},
		{"a document without kind is an error", "apiVersion: v1\nmetadata:\n  name: a\n", nil, true},
		{"invalid YAML is an error", "apiVersion: [v1\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decode("test.yaml", []byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("objects = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCRD(t *testing.T) {
	crd := only(t, "crd-link.yaml", "CustomResourceDefinition")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var storage []string
	var v3 map[string]any
	for _, v := range versions {
		v := v.(map[string]any)
		name := v["name"].(string)
		if served, _ := v["served"].(bool); !served {
			t.Errorf("version %s is not served", name)
		}
		if stored, _ := v["storage"].(bool); stored {
			storage = append(storage, name)
		}
		if name == "v1alpha3" {
			v3 = v
		}
	}
	if !slices.Equal(storage, []string{"v1alpha3"}) {
		t.Fatalf("storage versions = %q, want only v1alpha3", storage)
	}
	if _, ok, _ := unstructured.NestedMap(v3, "subresources", "status"); !ok {
		t.Error("v1alpha3 has no status subresource")
	}

	schema, _, _ := unstructured.NestedMap(v3, "schema", "openAPIV3Schema")
	checkStructural(t, "openAPIV3Schema", schema)
	spec, _, _ := unstructured.NestedMap(schema, "properties", "spec", "properties")
	for _, field := range []string{
		"targetClusterName", "targetClusterDomain", "targetClusterLinkerdNamespace",
		"clusterCredentialsSecret", "gatewayAddress", "gatewayPort", "gatewayIdentity",
		"probeSpec", "selector", "remoteDiscoverySelector", "federatedServiceSelector",
		"excludedLabels", "excludedAnnotations",
	} {
		if _, ok := spec[field]; !ok {
			t.Errorf("v1alpha3 schema has no spec.%s", field)
		}
	}
	status, _, _ := unstructured.NestedMap(schema, "properties", "status", "properties")
	for _, field := range []string{"mirrorServices", "federatedServices", "summary"} {
		if _, ok := status[field]; !ok {
			t.Errorf("v1alpha3 schema has no status.%s", field)
		}
	}
}

// checkStructural fails the test for any schema node without a type, which the API server
// would reject as non-structural (this schema uses no int-or-string or untyped nodes).
func checkStructural(t *testing.T, path string, s map[string]any) {
	t.Helper()
	if typ, _ := s["type"].(string); typ == "" {
		t.Errorf("%s has no type", path)
	}
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		checkStructural(t, path+"."+name, p.(map[string]any))
	}
	if items, ok := s["items"].(map[string]any); ok {
		checkStructural(t, path+"[]", items)
	}
	if add, ok := s["additionalProperties"].(map[string]any); ok {
		checkStructural(t, path+"{}", add)
	}
}

// TestRemoteReaderIsReadOnly guards the credentials that leave the target cluster.
func TestRemoteReaderIsReadOnly(t *testing.T) {
	role := only(t, "rbac-remote.yaml", "ClusterRole")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	if len(rules) == 0 {
		t.Fatal("the ClusterRole has no rules")
	}
	for i, r := range rules {
		verbs, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "verbs")
		if !slices.Equal(verbs, []string{"list", "watch"}) {
			t.Errorf("rule %d grants %q; only list and watch are allowed", i, verbs)
		}
		resources, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
		for _, res := range resources {
			if res != "services" && res != "endpointslices" {
				t.Errorf("rule %d covers %q; only services and endpointslices are needed", i, res)
			}
		}
	}
}

// TestDeploymentServesTheExampleLink checks the Deployment's wiring against the other files:
// its --link names the example Link, whose credentials Secret exists, and its
// ServiceAccount is the one rbac-local.yaml binds.
func TestDeploymentServesTheExampleLink(t *testing.T) {
	deploy := only(t, "deployment.yaml", "Deployment")
	// Two replicas under leader election: a rolling update keeps one running.
	if strategy, _, _ := unstructured.NestedString(deploy.Object, "spec", "strategy", "type"); strategy != "RollingUpdate" {
		t.Errorf("strategy = %q, want RollingUpdate", strategy)
	}
	if replicas, _, _ := unstructured.NestedInt64(deploy.Object, "spec", "replicas"); replicas != 2 {
		t.Errorf("replicas = %d, want 2", replicas)
	}
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	var link string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--link="); ok {
			link = v
		}
	}
	if link == "" {
		t.Fatalf("args %q have no --link=", args)
	}

	l := only(t, "link-example.yaml", "Link")
	if l.GetName() != link {
		t.Errorf("--link=%s, but the example Link is %q", link, l.GetName())
	}
	secretName, _, _ := unstructured.NestedString(l.Object, "spec", "clusterCredentialsSecret")
	secret := only(t, "link-example.yaml", "Secret")
	if secret.GetName() != secretName || secret.GetNamespace() != l.GetNamespace() {
		t.Errorf("credentials Secret is %s/%s, the Link wants %s/%s",
			secret.GetNamespace(), secret.GetName(), l.GetNamespace(), secretName)
	}
	if typ, _, _ := unstructured.NestedString(secret.Object, "type"); typ != "mirror.linkerd.io/remote-kubeconfig" {
		t.Errorf("credentials Secret type = %q", typ)
	}
	if _, ok, _ := unstructured.NestedString(secret.Object, "stringData", "kubeconfig"); !ok {
		t.Error("credentials Secret has no kubeconfig key")
	}

	sa, _, _ := unstructured.NestedString(deploy.Object, "spec", "template", "spec", "serviceAccountName")
	if want := only(t, "rbac-local.yaml", "ServiceAccount"); sa != want.GetName() || deploy.GetNamespace() != want.GetNamespace() {
		t.Errorf("Deployment runs as %s/%s, rbac-local.yaml grants %s/%s",
			deploy.GetNamespace(), sa, want.GetNamespace(), want.GetName())
	}
}

// only returns the single object of the given kind in file.
func only(t *testing.T, file, kind string) *unstructured.Unstructured {
	t.Helper()
	objs, err := Objects(file)
	if err != nil {
		t.Fatal(err)
	}
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s holds %d objects of kind %s, want 1", file, len(found), kind)
	}
	return found[0]
}
