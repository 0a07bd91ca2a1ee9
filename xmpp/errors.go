package xmpp

// Error mapping between SIP responses and XMPP stanza error conditions
// (RFC 7247 section 8).

// ConditionOf returns the stanza error condition for a SIP final status:
// 0 (no answer at all) and 408 are remote-server-timeout.
func ConditionOf(code int) string {
	switch {
	case code == 0:
		return "remote-server-timeout"
	case code >= 300 && code < 400:
		return "redirect"
	case code >= 600:
		switch code {
		case 604:
			return "item-not-found"
		case 606:
			return "not-acceptable"
		}
		return "service-unavailable"
	case code >= 500:
		switch code {
		case 501:
			return "feature-not-implemented"
		case 502:
			return "remote-server-not-found"
		case 503:
			return "service-unavailable"
		case 504:
			return "remote-server-timeout"
		case 513:
			return "policy-violation"
		}
		return "internal-server-error"
	}
	switch code {
	case 401:
		return "not-authorized"
	case 402:
		return "payment-required"
	case 403:
		return "forbidden"
	case 404, 481, 484, 485:
		return "item-not-found"
	case 405:
		return "not-allowed"
	case 406, 482, 483, 488:
		return "not-acceptable"
	case 407:
		return "registration-required"
	case 408:
		return "remote-server-timeout"
	case 410:
		return "gone"
	case 413, 414:
		return "policy-violation"
	case 480, 486, 600:
		return "recipient-unavailable"
	case 491:
		return "unexpected-request"
	}
	return "bad-request"
}

// StatusOf returns the SIP status for a stanza error condition.
func StatusOf(cond string) (int, string) {
	switch cond {
	case "bad-request", "conflict":
		return 400, "Bad Request"
	case "not-authorized":
		return 401, "Unauthorized"
	case "payment-required":
		return 402, "Payment Required"
	case "forbidden", "policy-violation":
		return 403, "Forbidden"
	case "item-not-found", "remote-server-not-found":
		return 404, "Not Found"
	case "feature-not-implemented", "not-allowed":
		return 405, "Method Not Allowed"
	case "not-acceptable":
		return 406, "Not Acceptable"
	case "registration-required", "subscription-required":
		return 407, "Proxy Authentication Required"
	case "remote-server-timeout":
		return 408, "Request Timeout"
	case "gone":
		return 410, "Gone"
	case "recipient-unavailable":
		return 480, "Temporarily Unavailable"
	case "jid-malformed":
		return 484, "Address Incomplete"
	case "unexpected-request":
		return 491, "Request Pending"
	case "service-unavailable":
		return 503, "Service Unavailable"
	case "redirect":
		return 302, "Moved Temporarily"
	}
	return 500, "Server Internal Error"
}
