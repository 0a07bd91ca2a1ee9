package puaxmpp

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts pua_xmpp's events, for pua_xmpp_status and Prometheus.
type metrics struct {
	events *prometheus.CounterVec
	// publish is the time from an XMPP presence to the 2xx of its
	// PUBLISH.
	publish prometheus.Histogram
	mu      sync.Mutex
	counts  map[string]uint64
}

func (m *metrics) init(reg prometheus.Registerer, sizes func() (users, subs int)) {
	m.counts = map[string]uint64{}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_pua_xmpp_events_total",
		Help: "What the presence gateway did, by event (publish, withdraw, subscribe, unsubscribe, probe, notify_forwarded, subscribe_request, authorize_allow, authorize_deny, ...).",
	}, []string{"event"})
	m.publish = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "presenced_pua_xmpp_publish_seconds",
		Help:    "Time from an XMPP presence received to the 2xx of the PUBLISH made of it (gateway and presence server).",
		Buckets: prometheus.ExponentialBucketsRange(0.0001, 1, 13),
	})
	if reg == nil {
		return
	}
	reg.MustRegister(m.events, m.publish,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "presenced_pua_xmpp_users", Help: "XMPP users the presence gateway holds state for."}, func() float64 {
			u, _ := sizes()
			return float64(u)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "presenced_pua_xmpp_subscriptions", Help: "XMPP users' subscriptions to SIP users with a known state."}, func() float64 {
			_, s := sizes()
			return float64(s)
		}),
	)
}

func (m *metrics) inc(event string) {
	m.events.WithLabelValues(event).Inc()
	m.mu.Lock()
	m.counts[event]++
	m.mu.Unlock()
}

func (m *metrics) snapshot() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.counts))
	for k, v := range m.counts {
		out[k] = v
	}
	return out
}
