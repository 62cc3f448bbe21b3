//! OTLP export of a service's metrics, beside its Prometheus endpoint.
//!
//! The registry ([`ServiceMetrics`]) stays the one source: every interval its
//! OpenMetrics text (what a scrape returns) is translated to an OTLP
//! `ExportMetricsServiceRequest` — counters as monotonic cumulative sums,
//! gauges as gauges, histograms as explicit-bucket cumulative histograms — and
//! sent to the collector over OTLP/gRPC. Configured by the standard variables:
//! `OTEL_METRICS_EXPORTER=otlp` (or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`),
//! the endpoint from `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, the interval from
//! `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds, default 60000).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::metrics::ServiceMetrics;

/// Where and how often metrics are pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpMetricsConfig {
    pub endpoint: String,
    pub interval: Duration,
    /// `service.name` of the exported resource.
    pub service_name: String,
}

impl OtlpMetricsConfig {
    /// The configuration the standard variables give (through `lookup`), or
    /// `None` when metrics are not to be exported over OTLP.
    pub fn from_lookup(service_name: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let metrics_endpoint = lookup("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").filter(|value| !value.is_empty());
        let wanted = match lookup("OTEL_METRICS_EXPORTER").as_deref() {
            Some("otlp") => true,
            Some("none") | Some("prometheus") => false,
            Some(other) => anyhow::bail!("OTEL_METRICS_EXPORTER must be otlp, prometheus or none, got {other:?}"),
            None => metrics_endpoint.is_some(),
        };
        if !wanted {
            return Ok(None);
        }
        let endpoint = metrics_endpoint
            .or_else(|| lookup("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|value| !value.is_empty()))
            .ok_or_else(|| anyhow::anyhow!("OTEL_METRICS_EXPORTER=otlp needs OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT"))?;
        let interval = match lookup("OTEL_METRIC_EXPORT_INTERVAL") {
            Some(value) => {
                let millis: u64 = value.parse().ok().filter(|millis| *millis > 0).ok_or_else(|| {
                    anyhow::anyhow!("OTEL_METRIC_EXPORT_INTERVAL must be a positive number of ms, got {value:?}")
                })?;
                Duration::from_millis(millis)
            }
            None => Duration::from_secs(60),
        };
        let service_name = lookup("OTEL_SERVICE_NAME").unwrap_or_else(|| service_name.to_owned());
        Ok(Some(Self { endpoint, interval, service_name }))
    }
}

/// Pushes `metrics` every interval until the task is aborted; a failed push
/// is logged and retried at the next interval (the values are cumulative).
pub fn spawn_otlp_metrics(metrics: ServiceMetrics, config: OtlpMetricsConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = unix_nanos(SystemTime::now());
        let mut interval = tokio::time::interval(config.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(error) = export_once(&metrics, &config, start).await {
                tracing::warn!(endpoint = %config.endpoint, %error, "OTLP metrics export failed; retrying next interval");
            }
        }
    })
}

/// One push of the current values.
pub async fn export_once(metrics: &ServiceMetrics, config: &OtlpMetricsConfig, start: u64) -> anyhow::Result<()> {
    let request = to_otlp(&metrics.encode(), &config.service_name, start, unix_nanos(SystemTime::now()));
    let mut client = MetricsServiceClient::connect(config.endpoint.clone()).await?;
    client.export(request).await?;
    Ok(())
}

fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_nanos() as u64).unwrap_or_default()
}

/// One sample line: `name{label="value",…} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find('{') {
        Some(brace) => (&line[..brace], &line[brace..]),
        None => line.split_once(' ')?,
    };
    let mut labels = Vec::new();
    let value_text = if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((index, c)) = chars.next() {
            if c == '}' {
                end = Some(index);
                break;
            }
            if c == ',' || c == ' ' {
                continue;
            }
            let key_start = index;
            let mut key_end = index;
            for (index, c) in chars.by_ref() {
                if c == '=' {
                    key_end = index;
                    break;
                }
            }
            let key = body[key_start..key_end].to_owned();
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, '"') => break,
                    (_, c) => value.push(c),
                }
            }
            labels.push((key, value));
        }
        body[end? + 1..].trim()
    } else {
        rest.trim()
    };
    // A sample may carry a timestamp after the value: keep the value only.
    let value = match value_text.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        text => text.parse().ok()?,
    };
    Some(Sample { name: name.to_owned(), labels, value })
}

#[derive(Default)]
struct Family {
    kind: String,
    help: String,
    unit: String,
    samples: Vec<Sample>,
}

/// Translates the OpenMetrics text of a registry into one OTLP request.
fn to_otlp(text: &str, service_name: &str, start: u64, now: u64) -> ExportMetricsServiceRequest {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut order = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (Some(keyword), Some(name)) = (parts.next(), parts.next()) else { continue };
            let value = parts.next().unwrap_or_default().to_owned();
            if !families.contains_key(name) {
                order.push(name.to_owned());
            }
            let family = families.entry(name.to_owned()).or_default();
            match keyword {
                "TYPE" => family.kind = value,
                "HELP" => family.help = value,
                "UNIT" => family.unit = value,
                _ => {}
            }
            current = name.to_owned();
        } else if let Some(sample) = parse_sample(line)
            && let Some(family) = families.get_mut(&current)
        {
            family.samples.push(sample);
        }
    }
    let metrics = order.iter().filter_map(|name| metric(name, &families[name], start, now)).collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![key_value("service.name", service_name)],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "csm".to_owned(), ..Default::default() }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn key_value(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..Default::default()
    }
}

fn attributes(labels: &[(String, String)]) -> Vec<KeyValue> {
    labels.iter().filter(|(key, _)| key != "le").map(|(key, value)| key_value(key, value)).collect()
}

fn number(sample: &Sample, start: u64, now: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes(&sample.labels),
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsDouble(sample.value)),
        ..Default::default()
    }
}

fn metric(name: &str, family: &Family, start: u64, now: u64) -> Option<Metric> {
    let data = match family.kind.as_str() {
        "counter" => metric::Data::Sum(Sum {
            data_points: family
                .samples
                .iter()
                .filter(|sample| sample.name.ends_with("_total") || sample.name == name)
                .map(|sample| number(sample, start, now))
                .collect(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
        "gauge" | "unknown" => metric::Data::Gauge(Gauge {
            data_points: family.samples.iter().map(|sample| number(sample, start, now)).collect(),
        }),
        "histogram" => metric::Data::Histogram(Histogram {
            data_points: histogram_points(name, &family.samples, start, now),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
        // Summaries, info and state sets are not used by the services.
        _ => return None,
    };
    Some(Metric {
        name: name.to_owned(),
        description: family.help.clone(),
        unit: family.unit.clone(),
        data: Some(data),
        ..Default::default()
    })
}

/// Histogram series (by label set without `le`) from `_bucket` / `_sum` / `_count` samples.
fn histogram_points(name: &str, samples: &[Sample], start: u64, now: u64) -> Vec<HistogramDataPoint> {
    struct Series {
        labels: Vec<(String, String)>,
        buckets: Vec<(f64, f64)>,
        sum: f64,
        count: f64,
    }
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for sample in samples {
        let labels: Vec<(String, String)> = sample.labels.iter().filter(|(key, _)| key != "le").cloned().collect();
        let key = format!("{labels:?}");
        let entry = series.entry(key).or_insert_with(|| Series {
            labels: labels.clone(),
            buckets: Vec::new(),
            sum: 0.0,
            count: 0.0,
        });
        let suffix = sample.name.strip_prefix(name).unwrap_or_default();
        match suffix {
            "_bucket" => {
                let bound =
                    sample.labels.iter().find(|(key, _)| key == "le").and_then(|(_, value)| match value.as_str() {
                        "+Inf" => Some(f64::INFINITY),
                        value => value.parse().ok(),
                    });
                if let Some(bound) = bound {
                    entry.buckets.push((bound, sample.value));
                }
            }
            "_sum" => entry.sum = sample.value,
            "_count" => entry.count = sample.value,
            _ => {}
        }
    }
    series
        .into_values()
        .map(|mut series| {
            series.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            // OpenMetrics buckets are cumulative; OTLP's are per bucket.
            let mut previous = 0.0;
            let mut bucket_counts = Vec::new();
            let mut explicit_bounds = Vec::new();
            for (bound, cumulative) in &series.buckets {
                bucket_counts.push((cumulative - previous).max(0.0) as u64);
                previous = *cumulative;
                if bound.is_finite() {
                    explicit_bounds.push(*bound);
                }
            }
            if series.buckets.last().is_none_or(|(bound, _)| bound.is_finite()) {
                bucket_counts.push((series.count - previous).max(0.0) as u64);
            }
            HistogramDataPoint {
                attributes: attributes(&series.labels),
                start_time_unix_nano: start,
                time_unix_nano: now,
                count: series.count as u64,
                sum: Some(series.sum),
                bucket_counts,
                explicit_bounds,
                ..Default::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP csm_rpc_requests RPCs served.
# TYPE csm_rpc_requests counter
csm_rpc_requests_total{service="identity",method="GetAccount",code="OK"} 3
csm_rpc_requests_total{service="identity",method="Get\"Odd\"",code="NotFound"} 1
# HELP csm_db_pool_in_use Connections in use.
# TYPE csm_db_pool_in_use gauge
csm_db_pool_in_use 2
# HELP csm_rpc_duration_seconds RPC latency.
# TYPE csm_rpc_duration_seconds histogram
# UNIT csm_rpc_duration_seconds seconds
csm_rpc_duration_seconds_sum{method="GetAccount"} 0.5
csm_rpc_duration_seconds_count{method="GetAccount"} 4
csm_rpc_duration_seconds_bucket{le="0.1",method="GetAccount"} 1
csm_rpc_duration_seconds_bucket{le="1.0",method="GetAccount"} 3
csm_rpc_duration_seconds_bucket{le="+Inf",method="GetAccount"} 4
# EOF
"#;

    fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
        attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(value) => Some(value.clone()),
            _ => None,
        })
    }

    #[test]
    fn counters_gauges_and_histograms_become_otlp_metrics() {
        let request = to_otlp(TEXT, "csm-identity", 1, 2);
        let resource = &request.resource_metrics[0];
        assert_eq!(
            string_attribute(&resource.resource.as_ref().unwrap().attributes, "service.name").as_deref(),
            Some("csm-identity")
        );
        let metrics = &resource.scope_metrics[0].metrics;
        let names: Vec<&str> = metrics.iter().map(|metric| metric.name.as_str()).collect();
        assert_eq!(names, ["csm_rpc_requests", "csm_db_pool_in_use", "csm_rpc_duration_seconds"]);

        let Some(metric::Data::Sum(sum)) = &metrics[0].data else { panic!("a sum") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.data_points.len(), 2);
        assert_eq!(sum.data_points[0].value, Some(number_data_point::Value::AsDouble(3.0)));
        assert_eq!(string_attribute(&sum.data_points[1].attributes, "method").as_deref(), Some("Get\"Odd\""));
        assert_eq!(metrics[0].description, "RPCs served.");

        let Some(metric::Data::Gauge(gauge)) = &metrics[1].data else { panic!("a gauge") };
        assert_eq!(gauge.data_points[0].value, Some(number_data_point::Value::AsDouble(2.0)));

        let Some(metric::Data::Histogram(histogram)) = &metrics[2].data else { panic!("a histogram") };
        assert_eq!(metrics[2].unit, "seconds");
        let point = &histogram.data_points[0];
        assert_eq!((point.count, point.sum), (4, Some(0.5)));
        assert_eq!(point.explicit_bounds, vec![0.1, 1.0]);
        assert_eq!(point.bucket_counts, vec![1, 2, 1], "cumulative buckets become per-bucket counts");
        assert_eq!(string_attribute(&point.attributes, "le"), None);
        assert_eq!((point.start_time_unix_nano, point.time_unix_nano), (1, 2));
    }

    #[derive(Clone, Default)]
    struct Receiver(std::sync::Arc<std::sync::Mutex<Vec<ExportMetricsServiceRequest>>>);

    #[tonic::async_trait]
    impl opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService for Receiver {
        async fn export(
            &self,
            request: tonic::Request<ExportMetricsServiceRequest>,
        ) -> Result<
            tonic::Response<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse>,
            tonic::Status,
        > {
            self.0.lock().unwrap().push(request.into_inner());
            Ok(tonic::Response::new(Default::default()))
        }
    }

    #[tokio::test]
    async fn a_registry_is_pushed_to_an_otlp_receiver() {
        use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let receiver = Receiver::default();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(MetricsServiceServer::new(receiver.clone()))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let metrics = ServiceMetrics::new();
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        metrics.register("csm_test_calls", "Calls made by the test.", counter.clone());
        counter.inc_by(5);
        let config =
            OtlpMetricsConfig { endpoint, interval: Duration::from_secs(60), service_name: "csm-test".to_owned() };
        export_once(&metrics, &config, 1).await.expect("exported");
        let received = receiver.0.lock().unwrap().clone();
        server.abort();
        assert_eq!(received.len(), 1);
        let metric = &received[0].resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(metric.name, "csm_test_calls");
        let Some(metric::Data::Sum(sum)) = &metric.data else { panic!("a sum: {metric:?}") };
        assert_eq!(sum.data_points[0].value, Some(number_data_point::Value::AsDouble(5.0)));
    }

    #[test]
    fn the_standard_variables_turn_it_on() {
        let config = |pairs: &[(&str, &str)]| {
            let map: std::collections::HashMap<String, String> =
                pairs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
            OtlpMetricsConfig::from_lookup("csm-role", |key| map.get(key).cloned())
        };
        assert_eq!(config(&[]).unwrap(), None);
        assert_eq!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")]).unwrap(), None, "traces only");
        let on = config(&[("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")])
            .unwrap()
            .unwrap();
        assert_eq!(
            on,
            OtlpMetricsConfig {
                endpoint: "http://c:4317".to_owned(),
                interval: Duration::from_secs(60),
                service_name: "csm-role".to_owned(),
            }
        );
        let own =
            config(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4317"), ("OTEL_METRIC_EXPORT_INTERVAL", "500")])
                .unwrap()
                .unwrap();
        assert_eq!((own.endpoint.as_str(), own.interval), ("http://m:4317", Duration::from_millis(500)));
        assert!(config(&[("OTEL_METRICS_EXPORTER", "otlp")]).is_err(), "no endpoint");
        assert!(config(&[("OTEL_METRICS_EXPORTER", "statsd")]).is_err());
        assert!(
            config(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4317"), ("OTEL_METRIC_EXPORT_INTERVAL", "0")])
                .is_err()
        );
    }
}
