//! The MTU of the route towards an address (what the tunnel's own MTU follows, wg-quick's rule in
//! `kubewire_core::mtu`): the parsers of each OS's answer, pure and tested everywhere; the per-OS
//! files run the command.

/// From `ip -j route get ADDR` (Linux): the route's device and the route's own MTU (a `mtu` metric,
/// set by `ip route ... mtu N`), when it has one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn parse_ip_route_get(json: &serde_json::Value) -> Option<(String, Option<u16>)> {
    let route = json.as_array()?.first()?;
    let dev = route.get("dev")?.as_str()?.to_owned();
    let metric = route
        .get("metrics")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|m| m.get("mtu").and_then(serde_json::Value::as_u64))
        .and_then(|m| u16::try_from(m).ok());
    Some((dev, metric))
}

/// From `route -n get ADDR` (macOS): the `mtu` column of the metrics table.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn parse_route_get(text: &str) -> Option<u16> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let header: Vec<&str> = line.split_whitespace().collect();
        if let Some(column) = header.iter().position(|h| *h == "mtu") {
            let values: Vec<&str> = lines.next()?.split_whitespace().collect();
            return values.get(column)?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn linux_route_with_and_without_its_own_mtu() {
        let plain: serde_json::Value = serde_json::from_str(
            r#"[{"dst":"192.0.2.11","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.100","flags":[],"uid":0,"cache":[]}]"#,
        )
        .unwrap();
        assert_eq!(parse_ip_route_get(&plain), Some(("eth0".into(), None)));
        let with: serde_json::Value = serde_json::from_str(
            r#"[{"dst":"192.0.2.11","dev":"wlan0","metrics":[{"mtu":1380}],"flags":[],"cache":[]}]"#,
        )
        .unwrap();
        assert_eq!(parse_ip_route_get(&with), Some(("wlan0".into(), Some(1380))));
        assert_eq!(parse_ip_route_get(&serde_json::json!([])), None);
    }

    #[test]
    fn macos_route_get_mtu_column() {
        let text = "   route to: 192.0.2.11
destination: default
       mask: default
    gateway: 192.168.1.1
  interface: en0
      flags: <UP,GATEWAY,DONE,STATIC,PRCLONING>
 recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire
       0         0         0         0         0         0      1492         0
";
        assert_eq!(parse_route_get(text), Some(1492));
        assert_eq!(
            parse_route_get("route: writing to routing socket: not in table"),
            None
        );
    }
}
