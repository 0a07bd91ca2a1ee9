package server

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/sipnet"
)

// sipCollector exports the SIP stack's counters: requests by method,
// responses by method and status code, and the transport counters.
type sipCollector struct {
	stack     *sipnet.Stack
	requests  *prometheus.Desc
	responses *prometheus.Desc
	stats     map[string]*prometheus.Desc
}

func newSIPCollector(stack *sipnet.Stack) *sipCollector {
	c := &sipCollector{
		stack:     stack,
		requests:  prometheus.NewDesc("presenced_sip_requests_total", "SIP requests received, by method.", []string{"method"}, nil),
		responses: prometheus.NewDesc("presenced_sip_responses_total", "SIP responses sent, by request method and status code.", []string{"method", "code"}, nil),
		stats:     map[string]*prometheus.Desc{},
	}
	for _, n := range []string{"messages_received", "messages_sent", "parse_errors", "dropped", "retransmissions", "transaction_timeouts", "send_errors", "panics"} {
		c.stats[n] = prometheus.NewDesc("presenced_sip_"+n+"_total", "SIP stack counter "+strings.ReplaceAll(n, "_", " ")+".", nil, nil)
	}
	return c
}

func (c *sipCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.responses
	for _, d := range c.stats {
		ch <- d
	}
}

func (c *sipCollector) Collect(ch chan<- prometheus.Metric) {
	for m, n := range c.stack.RequestCounts() {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), m)
	}
	for k, n := range c.stack.ResponseCounts() {
		m, code, _ := strings.Cut(k, " ")
		ch <- prometheus.MustNewConstMetric(c.responses, prometheus.CounterValue, float64(n), m, code)
	}
	st := c.stack.Stats()
	for n, v := range map[string]uint64{
		"messages_received": st.MessagesReceived, "messages_sent": st.MessagesSent, "parse_errors": st.ParseErrors,
		"dropped": st.Dropped, "retransmissions": st.Retransmissions, "transaction_timeouts": st.TxTimeouts,
		"send_errors": st.SendErrors, "panics": st.Panics,
	} {
		ch <- prometheus.MustNewConstMetric(c.stats[n], prometheus.CounterValue, float64(v))
	}
}
