{{/* Names and labels shared by every template. */}}
{{- define "veb.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "veb.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "veb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "veb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "veb.labels" -}}
{{ include "veb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "veb.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The CNI conflist, as JSON: the cluster-wide template each node's init
container renders its own from (veb-node-config: the range from the Node's
podCIDR, "mtu": "auto" resolved). */}}
{{- define "veb.conflist" -}}
{{- $c := .Values.cni -}}
{{- $ipam := $c.ipamOverride -}}
{{- if not $ipam -}}
{{- $range := dict "subnet" $c.ipam.subnet -}}
{{- if ne $c.ipam.nodeRange "podCIDR" }}{{- $_ := set $range "gateway" $c.ipam.gateway -}}{{- end -}}
{{- $ipam = dict "type" $c.ipam.type "ranges" (list (list $range)) "routes" $c.ipam.routes -}}
{{- end -}}
{{- $veb := dict "type" "veb" "bridge" .Values.bridge.name "engine" .Values.bridge.engine "socket" .Values.vebd.socket "portType" $c.portType "mtu" $c.mtu "isGateway" $c.isGateway "pinMac" $c.pinMac "arpGuard" $c.arpGuard "maxAddresses" $c.maxAddresses "ipam" $ipam -}}
{{- if $c.vlan }}{{- $_ := set $veb "vlan" $c.vlan -}}{{- end -}}
{{- if $c.trunk }}{{- $_ := set $veb "trunk" $c.trunk -}}{{- end -}}
{{- if $c.protected }}{{- $_ := set $veb "protected" $c.protected -}}{{- end -}}
{{- $plugins := list $veb -}}
{{- if $c.chain.portmap }}{{- $plugins = append $plugins (dict "type" "portmap" "capabilities" (dict "portMappings" true)) -}}{{- end -}}
{{- if $c.chain.tuning }}{{- $plugins = append $plugins (dict "type" "tuning") -}}{{- end -}}
{{- if $c.chain.bandwidth }}{{- $plugins = append $plugins (dict "type" "bandwidth" "capabilities" (dict "bandwidth" true)) -}}{{- end -}}
{{- dict "cniVersion" $c.cniVersion "name" $c.networkName "plugins" $plugins | toPrettyJson -}}
{{- end -}}

{{/* vebd's startup configuration (veb.server.AgentConfig as protobuf JSON): the
bridge to create and, with tunnel.enabled, the tunnel vport (each node's init
container fills in its local address, underlay and MTU). */}}
{{- define "veb.vebdConfig" -}}
{{- $b := .Values.bridge -}}
{{- $settings := dict "maxAddresses" $b.maxAddresses "addressTimeoutSeconds" $b.addressTimeoutSeconds "defaultPvid" (dict "vid" $b.defaultPvid) -}}
{{- $bridge := dict "name" $b.name "settings" $settings -}}
{{- if eq $b.engine "kernel" }}{{- $_ := set $bridge "engine" "ENGINE_KERNEL" -}}{{- end -}}
{{- $config := dict "bridges" (list $bridge) -}}
{{- if .Values.tunnel.enabled -}}
{{- $t := .Values.tunnel -}}
{{- $_ := set $config "vports" (list (dict "bridge" $b.name "kind" "VPORT_KIND_TUNNEL" "name" $t.name "tunnel" (dict "vni" (int $t.vni) "dstport" (int $t.dstport)))) -}}
{{- end -}}
{{- $config | toPrettyJson -}}
{{- end -}}

{{/* "true" when the agent removes the CNI files at helm uninstall (cni.install and cni.uninstall). */}}
{{- define "veb.cniUninstall" -}}
{{- if and .Values.cni.install .Values.cni.uninstall }}true{{ else }}false{{ end -}}
{{- end -}}

{{/* "true" when the init container reads its Node (the IPAM range from spec.podCIDR). */}}
{{- define "veb.nodeFromApi" -}}
{{- if and .Values.cni.install (eq .Values.cni.ipam.nodeRange "podCIDR") (not .Values.cni.ipamOverride) }}true{{ else }}false{{ end -}}
{{- end -}}

{{/* The headless Service over the DaemonSet, and its DNS name (vebd's tunnel peers). */}}
{{- define "veb.peersService" -}}
{{- printf "%s-peers" (include "veb.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "veb.peersName" -}}
{{- printf "%s.%s.svc.%s" (include "veb.peersService" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}
