package intern

import (
	"slices"
	"testing"
)

func TestGroupsFollowAddsMovesAndRemoves(t *testing.T) {
	var gs Groups
	web, db := Group{Namespace: "apps", Name: "web"}, Group{Namespace: "apps", Name: "db"}
	gs.Add(web, "web-a")
	gs.Add(web, "web-b")
	gs.Add(web, "web-a") // a second add keeps one
	held := gs.Members(web)
	if got := slices.Sorted(slices.Values(held)); !slices.Equal(got, []string{"web-a", "web-b"}) {
		t.Fatalf("Members(web) = %v", got)
	}
	gs.Move("web-a", web, web) // an update within its group changes nothing
	gs.Move("web-b", web, db)
	if got := gs.Members(web); !slices.Equal(got, []string{"web-a"}) {
		t.Fatalf("after the move, Members(web) = %v", got)
	}
	if got := gs.Members(db); !slices.Equal(got, []string{"web-b"}) {
		t.Fatalf("after the move, Members(db) = %v", got)
	}
	if !slices.Equal(held, []string{"web-a", "web-b"}) {
		t.Fatalf("a slice Members returned earlier changed under its holder: %v", held)
	}
	gs.Remove(web, "web-a")
	gs.Remove(db, "web-b")
	gs.Remove(db, "never-added")
	if gs.Len() != 0 || gs.Members(web) != nil {
		t.Fatalf("empty groups are kept: %d left", gs.Len())
	}
}
