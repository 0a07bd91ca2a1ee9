package main

import (
	_ "github.com/emiago/sipgo"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "mellium.im/xmpp"
	_ "modernc.org/sqlite"
)

func main() {}
