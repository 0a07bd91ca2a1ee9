package sqlcol

import "testing"

func TestTableStatements(t *testing.T) {
	tab := Table{Name: "auth", Key: []string{"p", "w"}, Cols: []string{"status", "updated"}}
	tests := []struct {
		name, got, want string
	}{
		{"upsert", tab.Upsert(Dollar), "INSERT INTO auth (p, w, status, updated) VALUES ($1, $2, $3, $4) ON CONFLICT (p, w) DO UPDATE SET status = excluded.status, updated = excluded.updated"},
		{"upsert with ?", tab.Upsert(Question), "INSERT INTO auth (p, w, status, updated) VALUES (?, ?, ?, ?) ON CONFLICT (p, w) DO UPDATE SET status = excluded.status, updated = excluded.updated"},
		{"delete", tab.Delete(Dollar), "DELETE FROM auth WHERE p = $1 AND w = $2"},
		{"delete with ?", tab.Delete(Question), "DELETE FROM auth WHERE p = ? AND w = ?"},
		{"select", tab.Select(), "SELECT p, w, status, updated FROM auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
	if got := tab.Key; len(got) != 2 {
		t.Errorf("All changed Key: got %v", got)
	}
}
