package neterr

import "strconv"

// Unreachable names the code of an ICMP destination unreachable message
// (ICMPv6 when v6) the way ping and traceroute do: text for a message
// ("network unreachable") and traceroute's mark ("!N"). The mark is empty
// for port unreachable, the normal answer of a destination to a UDP probe.
func Unreachable(v6 bool, code uint8) (text, mark string) {
	if v6 {
		switch code {
		case 0:
			return "no route to destination", "!N"
		case 1:
			return "administratively prohibited", "!X"
		case 2:
			return "beyond the scope of the source address", "!S"
		case 3:
			return "address unreachable", "!H"
		case 4:
			return "port unreachable", ""
		case 5:
			return "source address failed ingress/egress policy", "!X"
		case 6:
			return "reject route to destination", "!X"
		}
	} else {
		switch code {
		case 0, 6, 11:
			return "network unreachable", "!N"
		case 1, 7, 12:
			return "host unreachable", "!H"
		case 2:
			return "protocol unreachable", "!P"
		case 3:
			return "port unreachable", ""
		case 4:
			return "fragmentation needed", "!F"
		case 5:
			return "source route failed", "!S"
		case 9, 10, 13:
			return "administratively prohibited", "!X"
		case 14:
			return "host precedence violation", "!V"
		case 15:
			return "precedence cutoff", "!C"
		}
	}
	c := strconv.Itoa(int(code))
	return "destination unreachable, code " + c, "!<" + c + ">"
}
