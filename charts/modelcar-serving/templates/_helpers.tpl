{{/* The image the cluster pulls: by digest when the GitOps config has one, else by tag. */}}
{{- define "modelcar-serving.image" -}}
{{- $repo := printf "%s/%s/%s" .Values.image_repository .Values.image_namespace .Values.name -}}
{{- if .Values.image_digest -}}
{{- printf "%s@%s" $repo .Values.image_digest -}}
{{- else -}}
{{- printf "%s:%s" $repo .Values.version -}}
{{- end -}}
{{- end -}}

{{- define "modelcar-serving.runtime" -}}
{{- default .Values.name .Values.runtime.name -}}
{{- end -}}

{{- define "modelcar-serving.labels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/version: {{ .Values.version | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelcar-gitops
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
