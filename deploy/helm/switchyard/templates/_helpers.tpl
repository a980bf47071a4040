{{/* Names, labels and the values other templates derive. */}}

{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the keys (env vars): the user's own, or the chart's. */}}
{{- define "switchyard.secretName" -}}
{{- default (include "switchyard.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The variables the policy file names for the Redis URL and the workflow database. */}}
{{- define "switchyard.redisEnv" -}}
{{- dig "state" "redis_url_env" "" .Values.config }}
{{- end }}

{{- define "switchyard.postgresEnv" -}}
{{- if hasKey .Values.config "workflows" }}
{{- dig "workflows" "database_url_env" "" .Values.config }}
{{- end }}
{{- end }}

{{- define "switchyard.adminKeyEnv" -}}
{{- dig "auth" "admin_key_env" "" .Values.config }}
{{- end }}

{{/* More than one pod: autoscaling on, or a fixed count above one. */}}
{{- define "switchyard.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* Refuse settings that would split one gateway into N unrelated ones. */}}
{{- define "switchyard.validate" -}}
{{- if include "switchyard.multiReplica" . }}
{{- if not (include "switchyard.redisEnv" .) }}
{{- fail "several replicas need one shared Redis: set config.state.redis_url_env (and redis.url or redis.existingSecret), or run one replica" }}
{{- end }}
{{- if not (or .Values.redis.url .Values.redis.existingSecret) }}
{{- fail "several replicas need one shared Redis: set redis.url or redis.existingSecret" }}
{{- end }}
{{- if hasKey .Values.config "workflows" }}
{{- if not (include "switchyard.postgresEnv" .) }}
{{- fail "several replicas with workflows need one Postgres: set config.workflows.database_url_env (and postgres.url or postgres.existingSecret)" }}
{{- end }}
{{- if not (or .Values.postgres.url .Values.postgres.existingSecret) }}
{{- fail "several replicas with workflows need one Postgres: set postgres.url or postgres.existingSecret" }}
{{- end }}
{{- end }}
{{- end }}
{{- if not .Values.securityContext.readOnlyRootFilesystem }}
{{- fail "securityContext.readOnlyRootFilesystem must stay true: the image writes only to /tmp and dataDir" }}
{{- end }}
{{- end }}
