package testpeer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	dsn := Postgres(t)
	if !strings.HasPrefix(dsn, "postgres://postgres@127.0.0.1:") || !strings.HasSuffix(dsn, "/"+PostgresDB+"?sslmode=disable") {
		t.Fatalf("dsn %q, want postgres://postgres@127.0.0.1:PORT/%s?sslmode=disable", dsn, PostgresDB)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var one int
	var db string
	if err := conn.QueryRow(ctx, "SELECT 1, current_database()").Scan(&one, &db); err != nil {
		t.Fatalf("select: %v", err)
	}
	if one != 1 || db != PostgresDB {
		t.Fatalf("got %d, %q; want 1, %q", one, db, PostgresDB)
	}
}
