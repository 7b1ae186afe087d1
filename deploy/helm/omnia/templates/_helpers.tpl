{{/*
The release's base name: the release name alone when it already says "omnia" (the usual
`helm install omnia ...`), else "<release>-omnia". 63 characters is the limit of a label value
and of a DNS label, which these names become.
*/}}
{{- define "omnia.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator's objects: Deployment, Service, ServiceAccount, ClusterRole and binding. */}}
{{- define "omnia.operatorName" -}}
{{- printf "%s-operator" (include "omnia.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "omnia.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "omnia.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: fixed for the life of a release, since a Deployment's selector cannot change. */}}
{{- define "omnia.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "omnia.labels" -}}
{{ include "omnia.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* "repository:tag" of one of .Values.image's entries; an empty tag means the appVersion. */}}
{{- define "omnia.image" -}}
{{- $image := index .root.Values.image .name -}}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}
