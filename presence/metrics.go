package presence

import "github.com/prometheus/client_golang/prometheus"

// metrics are the presence server's Prometheus collectors.
type metrics struct {
	publications  prometheus.Gauge
	subscriptions prometheus.Gauge
	notifySent    prometheus.Counter
	notifyFailed  *prometheus.CounterVec
}

func (m *metrics) init(reg prometheus.Registerer) {
	m.publications = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "presenced_publications", Help: "Publications held by the presence server.",
	})
	m.subscriptions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "presenced_subscriptions", Help: "Subscriptions held by the presence server.",
	})
	m.notifySent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "presenced_notify_sent_total", Help: "NOTIFY requests sent.",
	})
	m.notifyFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_notify_failed_total", Help: "NOTIFY requests that got no 2xx, by outcome (timeout, transport, or the status code).",
	}, []string{"outcome"})
	if reg != nil {
		reg.MustRegister(m.publications, m.subscriptions, m.notifySent, m.notifyFailed)
	}
}
