{{- define "catalyst.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "catalyst.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "catalyst.labels" -}}
app.kubernetes.io/name: {{ include "catalyst.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "catalyst.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catalyst.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "catalyst.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "catalyst.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Plain CATALYST_* variables from a list of [name, value] pairs; a value that is empty
(or absent) is left out, so Catalyst's own default applies. Whole numbers are printed
without an exponent (YAML numbers arrive as float64: 1000000 would print as 1e+06).
*/}}
{{- define "catalyst.optionalEnv" -}}
{{- range $pair := . }}
{{- $value := index $pair 1 }}
{{- if kindIs "float64" $value }}{{ $value = int64 $value }}{{ end }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
- name: {{ index $pair 0 }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}
