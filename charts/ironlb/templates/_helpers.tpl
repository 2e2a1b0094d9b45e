{{/* Labels of every object: the two the Kustomize base has, and Helm's. */}}
{{- define "ironlb.labels" -}}
app.kubernetes.io/name: ironlb
app.kubernetes.io/component: {{ . }}
{{- end }}

{{- define "ironlb.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* metadata.labels of a component's objects: (list $ "controller") */}}
{{- define "ironlb.objectLabels" -}}
{{ include "ironlb.labels" (index . 1) }}
{{ include "ironlb.helmLabels" (index . 0) }}
{{- end }}

{{/* image of a values section: (list $ .Values.controller) */}}
{{- define "ironlb.image" -}}
{{- $root := index . 0 }}{{- $section := index . 1 -}}
{{ $section.image.repository }}:{{ $section.image.tag | default $root.Chart.AppVersion }}
{{- end }}

{{/* MetalLB's log levels, as ironlb names them. */}}
{{- define "ironlb.logLevel" -}}
{{- $levels := dict "all" "debug" "debug" "debug" "info" "info" "warn" "warning" "warning" "warning" "error" "error" "none" "error" -}}
{{- if not (hasKey $levels .) -}}
{{- fail (printf "logLevel %q: must be one of all, debug, info, warn, error, none" .) -}}
{{- end -}}
{{ get $levels . }}
{{- end }}

{{/* The ServiceAccount a component runs as: (list "controller" .Values.controller) */}}
{{- define "ironlb.serviceAccountName" -}}
{{- $component := index . 0 }}{{- $section := index . 1 -}}
{{- if $section.serviceAccount.create -}}
{{ $section.serviceAccount.name | default (printf "ironlb-%s" $component) }}
{{- else -}}
{{ required (printf "%s.serviceAccount.name is required when %s.serviceAccount.create is false" $component $component) $section.serviceAccount.name }}
{{- end -}}
{{- end }}

{{/* Scheduling a pod: nodeSelector (Linux always), tolerations, affinity, classes. */}}
{{- define "ironlb.scheduling" -}}
{{- $root := index . 0 }}{{- $section := index . 1 }}{{- $extraTolerations := index . 2 -}}
nodeSelector:
{{- merge (dict) ($section.nodeSelector | default dict) (dict "kubernetes.io/os" "linux") | toYaml | nindent 2 }}
{{- $tolerations := concat $extraTolerations ($section.tolerations | default list) }}
{{- with $tolerations }}
tolerations:
{{- toYaml . | nindent 0 }}
{{- end }}
{{- with $section.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $section.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $section.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}

{{/* The pod's own namespace, for --namespace: where MetalLB's objects are read. */}}
{{- define "ironlb.podNamespaceEnv" -}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
{{- end }}
