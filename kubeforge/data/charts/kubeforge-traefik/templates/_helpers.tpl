{{/* The selector labels: the same as Traefik's upstream chart gives, so a release installed
from that chart upgrades in place (a DaemonSet's selector cannot change). */}}
{{- define "kubeforge-traefik.selector" -}}
app.kubernetes.io/name: traefik
app.kubernetes.io/instance: {{ .Release.Name }}-{{ .Release.Namespace }}
{{- end }}

{{- define "kubeforge-traefik.labels" -}}
{{ include "kubeforge-traefik.selector" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
