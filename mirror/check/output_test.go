package check

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var sampleReport = Report{Link: "linkerd-multicluster/east", Passed: false, Checks: []Result{
	{Name: NameCRD, Verdict: OK, Detail: "served"},
	{Name: NameRemoteAccess, Verdict: Fail, Detail: "may not watch services", Fix: "grant it"},
	{Name: NameGateway, Verdict: Skipped, Detail: "no gateway"},
}}

func TestTableAlignsColumnsAndAppendsTheFix(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sampleReport, FormatTable); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := []string{
		"CHECK          RESULT   DETAIL",
		"link-crd       ok       served",
		"remote-access  fail     may not watch services => grant it",
		"gateway-probe  skipped  no gateway",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
}

func TestJSONHasTheDocumentedShape(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sampleReport, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Link   string `json:"link"`
		Passed *bool  `json:"passed"`
		Checks []map[string]string
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Link != "linkerd-multicluster/east" || got.Passed == nil || *got.Passed || len(got.Checks) != 3 {
		t.Fatalf("decoded %+v from %s", got, b.String())
	}
	if c := got.Checks[1]; c["name"] != "remote-access" || c["result"] != "fail" || c["detail"] != "may not watch services" || c["fix"] != "grant it" {
		t.Errorf("check %v", c)
	}
	if _, ok := got.Checks[0]["fix"]; ok {
		t.Errorf("an ok check has a fix: %v", got.Checks[0])
	}
}

func TestUnknownFormatIsAnError(t *testing.T) {
	if err := Write(&bytes.Buffer{}, sampleReport, "yaml"); err == nil || !strings.Contains(err.Error(), `unknown output format "yaml"`) {
		t.Fatalf("error %v", err)
	}
}
