resource "helm_release" "vllm" {
  name       = "vllm-llama"
  namespace  = var.namespace
  repository = "https://vllm-project.github.io/production-stack"
  chart      = "vllm-stack"
  version    = "0.1.7"

  values = [file("${path.module}/values/vllm.yaml")]
}

# Scale the serving deployment on KV-cache pressure.
resource "kubernetes_manifest" "vllm_scaledobject" {
  manifest = yamldecode(<<-YAML
    apiVersion: keda.sh/v1alpha1
    kind: ScaledObject
    metadata:
      name: vllm-llama
      namespace: ${var.namespace}
    spec:
      scaleTargetRef:
        name: vllm-llama-deployment-vllm
      minReplicaCount: 1
      maxReplicaCount: ${var.max_replicas}
      triggers:
        - type: prometheus
          metadata:
            serverAddress: ${var.prometheus_url}
            metricName: vllm_gpu_cache_usage_perc
            query: avg(vllm:gpu_cache_usage_perc{namespace="${var.namespace}"})
            threshold: "${var.kv_cache_threshold}"
  YAML
  )

  depends_on = [helm_release.vllm]
}

variable "namespace" {
  type    = string
  default = "llm-serving"
}

variable "max_replicas" {
  type    = number
  default = 4
}

variable "prometheus_url" {
  type    = string
  default = "http://prometheus-operated.monitoring.svc:9090"
}

variable "kv_cache_threshold" {
  type    = string
  default = "0.7"
}
