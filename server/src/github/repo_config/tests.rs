use super::*;

#[test]
fn a_full_file_parses() {
    let text = r#"
chart:
  path: charts/app
values:
  replicas: 1
values_files: [charts/app/values-preview.yaml]
image:
  build: { context: ".", dockerfile: Dockerfile }
health_path: /healthz
quota: { cpu: "2", memory: 4Gi }
secrets: [database-credentials]
"#;
    let config = parse_preview_config(text).unwrap();
    assert_eq!(
        config.chart.as_ref().and_then(|c| c.path.as_deref()),
        Some("charts/app")
    );
    assert_eq!(config.values.len(), 1);
    assert_eq!(config.values_files, ["charts/app/values-preview.yaml"]);
    assert_eq!(
        config.image.unwrap().build.unwrap().dockerfile,
        "Dockerfile"
    );
    assert_eq!(config.quota.unwrap().memory.as_deref(), Some("4Gi"));
}

#[test]
fn a_minimal_file_with_a_prebuilt_image_parses() {
    let text = "chart:\n  repository: https://charts.example.com\n  name: app\nimage:\n  prebuilt: ghcr.io/acme/app:{sha}\n";
    let config = parse_preview_config(text).unwrap();
    assert_eq!(
        config.chart.as_ref().and_then(|c| c.name.as_deref()),
        Some("app")
    );
    assert_eq!(
        config.image.unwrap().prebuilt.as_deref(),
        Some("ghcr.io/acme/app:{sha}")
    );
    assert!(config.secrets.is_empty());
}

#[test]
fn an_unknown_key_reports_line_column_and_the_allowed_keys() {
    let text = "chart:\n  path: charts/app\nhealth_pth: /healthz\n";
    let p = parse_preview_config(text).unwrap_err();
    assert_eq!(p.file, ".catalyst/preview.yaml");
    assert_eq!(p.line, Some(3), "{p}");
    assert_eq!(p.column, Some(1), "{p}");
    assert!(p.message.contains("unknown field `health_pth`"), "{p}");
    assert!(p.expected.contains("`health_path`"), "{p}");
}

#[test]
fn a_nested_type_error_names_the_path() {
    let text = "chart:\n  path: charts/app\nquota:\n  pods: many\n";
    let p = parse_preview_config(text).unwrap_err();
    assert_eq!(p.line, Some(4), "{p}");
    assert!(p.message.starts_with("quota.pods: invalid type"), "{p}");
    assert!(p.expected.contains("u32"), "{p}");
}

#[test]
fn a_yaml_syntax_error_reports_its_line() {
    let text = "chart:\n  path: charts/app\nvalues: [unclosed\nsecrets: []\n";
    let p = parse_preview_config(text).unwrap_err();
    assert!(p.line.is_some_and(|l| l >= 3), "{p}");
    assert!(!p.message.contains(" at line "), "{p}");
}

#[test]
fn an_error_at_the_end_points_at_a_line_the_file_has() {
    // Found by `scripts/fuzz` (preview_config): serde_yaml places an unexpected end of
    // input one line past the last.
    for (text, lines) in [("{", 1), ("chart: [", 1), ("chart:\n  path: [a,\n", 2)] {
        let p = parse_preview_config(text).unwrap_err();
        let line = p.line.expect("a syntax error has a line");
        assert!((1..=lines).contains(&line), "{text:?}: {p}");
    }
}

#[test]
fn empty_files_and_non_mappings_say_what_is_expected() {
    let p = parse_preview_config("  \n").unwrap_err();
    assert!(p.expected.contains("chart"), "{p}");
    let p = parse_preview_config("- chart\n").unwrap_err();
    assert!(
        p.expected.contains("mapping") || p.expected.contains("struct"),
        "{p}"
    );
}

#[test]
fn every_key_is_optional_because_the_file_is_merged_over_stored_configuration() {
    let config = parse_preview_config("health_path: /ready\n").unwrap();
    assert!(config.chart.is_none());
    assert_eq!(config.health_path.as_deref(), Some("/ready"));
}

#[test]
fn the_gate_cannot_be_changed_from_the_pull_request() {
    let p = parse_preview_config("required_label: none\n").unwrap_err();
    assert!(p.message.contains("unknown field `required_label`"), "{p}");
    assert_eq!(p.line, Some(1), "{p}");
}

#[test]
fn a_parsed_file_survives_being_stored_and_read_back() {
    let text =
        "chart:\n  path: charts/app\nvalues:\n  1: one\n  nested: {a: [1, 2]}\nsecrets: [db]\n";
    let config = parse_preview_config(text).unwrap();
    let stored = serde_yaml::to_string(&config).unwrap();
    let back: PreviewConfig = serde_yaml::from_str(&stored).unwrap();
    assert_eq!(back, config);
}

#[test]
fn semantic_rules_point_at_the_offending_key() {
    let cases = [
        ("chart:\n  name: app\n", 1, "either `path`"),
        (
            "chart:\n  path: c\nimage:\n  build: {}\n  prebuilt: x\n",
            3,
            "exactly one",
        ),
        (
            "chart:\n  path: c\nhealth_path: healthz\n",
            3,
            "start with `/`",
        ),
        ("chart:\n  path: ../../etc\n", 2, "outside the repository"),
        (
            "chart:\n  path: c\nsecrets: [Bad_Name]\n",
            3,
            "Kubernetes object name",
        ),
    ];
    for (text, line, wording) in cases {
        let p = parse_preview_config(text).unwrap_err();
        assert_eq!(p.line, Some(line), "{text}: {p}");
        assert!(p.message.contains(wording), "{text}: {p}");
    }
}

#[test]
fn problems_convert_for_the_comment() {
    let p = parse_preview_config("chart: 3\n").unwrap_err();
    let c = p.to_comment();
    assert_eq!(c.file, p.file);
    assert_eq!(c.line, p.line);
    assert!(
        p.to_string().starts_with(".catalyst/preview.yaml:1:"),
        "{p}"
    );
}
