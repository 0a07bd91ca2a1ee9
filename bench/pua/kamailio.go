package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The peer: Kamailio 5.6 with pua + pua_rpc publishing to its own presence
// server, its RPC interface served by jsonrpcs over xhttp
// (kamailio/pua.cfg says how). pua.publish answers after the final SIP
// response to its PUBLISH, as presenced's pua_publish does.

// kamOpts says how to run Kamailio.
type kamOpts struct {
	bin         string // kamailio
	cfg         string // bench/pua/kamailio/pua.cfg
	children    int    // UDP (SIP) workers
	tcpChildren int    // TCP (HTTP) workers
	shmMiB      int    // -m
	pkgMiB      int    // -M
}

// kamSchema is the package's SQLite schema; pua and presence check their
// tables' versions at start-up even when they keep everything in memory.
var kamSchema = []string{
	"/usr/share/kamailio/db_sqlite/standard-create.sql",
	"/usr/share/kamailio/db_sqlite/presence-create.sql",
}

// startKamailio starts Kamailio on a fresh scratch database and free ports
// and waits until its JSON-RPC endpoint answers.
func startKamailio(o kamOpts) (*daemon, error) {
	d, err := newDaemon("kamailio", "/RPC", " ERROR: ")
	if err != nil {
		return nil, err
	}
	db := filepath.Join(d.dir, "pua.sqlite")
	sql := "PRAGMA journal_mode=WAL;\n"
	for _, f := range kamSchema {
		b, err := os.ReadFile(f)
		if err != nil {
			return d.failed(err)
		}
		sql += string(b)
	}
	mk := exec.Command("sqlite3", db)
	mk.Stdin = strings.NewReader(sql)
	if out, err := mk.CombinedOutput(); err != nil {
		return d.failed(fmt.Errorf("sqlite3 %s: %v: %.300s", db, err, out))
	}
	args := []string{"-DD", "-E", "-f", o.cfg,
		"-A", "SIPLISTEN=udp:" + d.sipAdr,
		"-A", `SIPURI="sip:` + d.sipAdr + `"`,
		"-A", "HTTPLISTEN=tcp:" + d.miAddr,
		"-A", `DBURL="sqlite://` + db + `"`,
		"-A", "NCHILDREN=" + strconv.Itoa(o.children),
		"-A", "TCPCHILDREN=" + strconv.Itoa(o.tcpChildren),
		"-Y", d.dir, "-P", filepath.Join(d.dir, "kamailio.pid"),
		"-m", strconv.Itoa(o.shmMiB), "-M", strconv.Itoa(o.pkgMiB),
	}
	c := newMIClient(d.rpcURL, 1)
	err = d.launch(o.bin, args, func() bool {
		ctx, cancel := ctxTimeout(time.Second)
		defer cancel()
		return c.call(ctx, "core.version", nil, nil) == nil
	})
	if err != nil {
		return d.failed(err)
	}
	d.procs = processTree(d.pid())
	return d, nil
}

// processTree is root and all its descendants (Kamailio forks its workers
// at start-up and keeps them).
func processTree(root int) []int {
	kids := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if f := strings.Fields(string(b[i+1:])); i >= 0 && len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			kids[ppid] = append(kids[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i]]...)
	}
	return out
}

// kamPublish calls Kamailio's pua.publish (all parameters strings:
// presentity, expires, event, content type, id, ETag, outbound proxy,
// extra headers, body; "." for none). Kamailio 5.6 answers
// {"SIP-ETag", "Expires"} after a 200, an empty result after any other
// final response (or tm's timeout), an error when the PUBLISH could not be
// sent.
func kamPublish(ctx context.Context, c *miClient, uri string, expires int, etag, body string) (publishReply, error) {
	ct, tag := ".", "."
	if body != "" {
		ct = "application/pidf+xml"
	}
	if etag != "" {
		tag = etag
	}
	params := []string{uri, strconv.Itoa(expires), "presence", ct, ".", tag, ".", "."}
	if body != "" {
		params = append(params, body)
	}
	var r struct {
		ETag    string `json:"SIP-ETag"`
		Expires int    `json:"Expires"`
	}
	if err := c.call(ctx, "pua.publish", params, &r); err != nil {
		return publishReply{}, err
	}
	if r.ETag == "" {
		return publishReply{}, errors.New("no SIP-ETag: final response not 200, or timeout")
	}
	return publishReply{Code: 200, Reason: "OK", ETag: r.ETag, Expires: r.Expires}, nil
}

// verifyKamailio counts the presentity records of Kamailio's presence
// server (presence.presentity_list, its in-memory table). pua 5.6 has no
// command listing its own records, so the pua side is not counted.
func verifyKamailio(d *daemon, c *miClient, want int, v verification) verification {
	ctx, cancel := ctxTimeout(2 * time.Minute)
	defer cancel()
	var recs []struct {
		Event string `json:"event"`
	}
	if err := c.call(ctx, "presence.presentity_list", nil, &recs); err != nil {
		v.ok, v.msg = false, "presence.presentity_list: "+err.Error()
		return v
	}
	for _, r := range recs {
		if r.Event == "presence" {
			v.presencePubs++
		}
	}
	v.puaPublished = -1
	if v.presencePubs != want || len(recs) != want {
		v.ok = false
		v.msg = fmt.Sprintf("want %d, presence.presentity_list %d records (%d presence)", want, len(recs), v.presencePubs)
	}
	return v
}
