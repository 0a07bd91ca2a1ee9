package pua

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	pubs       prometheus.Gauge
	subs       prometheus.Gauge
	publishes  *prometheus.CounterVec
	subscribes *prometheus.CounterVec
	notifies   *prometheus.CounterVec
}

func (m *metrics) init(reg prometheus.Registerer) {
	m.pubs = prometheus.NewGauge(prometheus.GaugeOpts{Name: "presenced_pua_publications", Help: "Outgoing publications held by the pua core."})
	m.subs = prometheus.NewGauge(prometheus.GaugeOpts{Name: "presenced_pua_subscriptions", Help: "Outgoing subscriptions held by the pua core."})
	m.publishes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_pua_publish_replies_total", Help: "Outcomes of the PUBLISHes the pua core sent."}, []string{"outcome"})
	m.subscribes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_pua_subscribe_replies_total", Help: "Outcomes of the SUBSCRIBEs the pua core sent."}, []string{"outcome"})
	m.notifies = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_pua_notifies_total", Help: "NOTIFYs the pua core received, by the status it answered."}, []string{"code"})
	if reg != nil {
		reg.MustRegister(m.pubs, m.subs, m.publishes, m.subscribes, m.notifies)
	}
}
