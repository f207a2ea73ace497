using BpfTraceSim.Contracts.Scenarios;
using BpfTraceSim.Silo;
using k8s;
using k8s.Models;
using Orleans.Hosting.Kubernetes;

namespace BpfTraceSim.K8s.Tests;

/// <summary>
/// What must hold in any rendering of k8s/ for the silos to form a cluster and the scenario Job to reach it.
/// Returns problems as sentences; none means the manifests agree with the code (SimSiloOptions defaults,
/// SiloSetup.KubernetesEnvironment, the hosting package's labels and API calls).
/// </summary>
internal static class ManifestChecks
{
    public const string Namespace = "bpfsim";
    public const string SiloDeployment = "bpfsim-silo";
    public const string SiloContainer = "silo";
    public const string ScenarioJob = "bpfsim-scenario";

    /// <summary>The pod verbs Microsoft.Orleans.Hosting.Kubernetes uses: read own pod, patch its labels, list+watch the cluster's pods, delete defunct silos' pods.</summary>
    public static readonly string[] HostingPodVerbs = ["get", "list", "watch", "patch", "delete"];

    private sealed record Workload(string Kind, string Name, V1PodTemplateSpec Template)
    {
        public override string ToString() => $"{Kind} {Name}";
    }

    public static List<string> Check(IReadOnlyList<object> objects)
    {
        var p = new List<string>();
        var workloads = new List<Workload>();
        foreach (var o in objects)
        {
            if (o is V1Deployment d) workloads.Add(new("Deployment", d.Metadata.Name, d.Spec.Template));
            else if (o is V1Job j) workloads.Add(new("Job", j.Metadata.Name, j.Spec.Template));
            else if (o is V1StatefulSet s) workloads.Add(new("StatefulSet", s.Metadata.Name, s.Spec.Template));
        }
        CheckMetadata(objects, p);
        CheckSelectors(objects, workloads, p);
        var silo = objects.OfType<V1Deployment>().SingleOrDefault(d => d.Metadata.Name == SiloDeployment);
        if (silo is null) p.Add($"no Deployment {SiloDeployment}");
        else
        {
            CheckSilo(objects, silo, p);
            CheckRbac(objects, silo, p);
            CheckJob(objects, silo, p);
        }
        CheckSecurity(workloads, p);
        return p;
    }

    private static void CheckMetadata(IReadOnlyList<object> objects, List<string> p)
    {
        foreach (var o in objects)
        {
            if (o is not IKubernetesObject<V1ObjectMeta> k) { p.Add($"{o.GetType().Name} is not a Kubernetes object"); continue; }
            if (string.IsNullOrEmpty(k.Metadata?.Name)) p.Add($"{k.Kind} without a name");
            else if (o is V1Namespace) { if (k.Metadata.Name != Namespace) p.Add($"Namespace {k.Metadata.Name} is not {Namespace}"); }
            else if (o is V1ClusterRole or V1ClusterRoleBinding) p.Add($"{k.Kind} {k.Metadata.Name}: cluster-wide RBAC is more than the silos need");
            else if (k.Metadata.NamespaceProperty != Namespace) p.Add($"{k.Kind} {k.Metadata.Name} is in namespace \"{k.Metadata.NamespaceProperty}\", not {Namespace}");
        }
        if (!objects.OfType<V1Namespace>().Any()) p.Add($"no Namespace {Namespace}");
    }

    private static bool Matches(IDictionary<string, string>? selector, IDictionary<string, string>? labels) =>
        selector is { Count: > 0 } && labels is not null && selector.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private static bool Matches(V1LabelSelector? selector, IDictionary<string, string>? labels) =>
        selector is not null && (selector.MatchExpressions is null || selector.MatchExpressions.Count == 0) && Matches(selector.MatchLabels, labels);

    private static string Show(IDictionary<string, string>? labels) =>
        labels is null ? "{}" : string.Join(",", labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));

    private static IEnumerable<V1ContainerPort> Ports(V1PodTemplateSpec t) => t.Spec.Containers.SelectMany(c => c.Ports ?? []);

    private static void CheckSelectors(IReadOnlyList<object> objects, List<Workload> workloads, List<string> p)
    {
        foreach (var d in objects.OfType<V1Deployment>())
            if (!Matches(d.Spec.Selector, d.Spec.Template.Metadata.Labels))
                p.Add($"Deployment {d.Metadata.Name}: selector {Show(d.Spec.Selector.MatchLabels)} does not match its pod template");

        foreach (var s in objects.OfType<V1Service>())
        {
            var pods = workloads.Where(w => Matches(s.Spec.Selector, w.Template.Metadata.Labels)).ToList();
            if (pods.Count == 0) { p.Add($"Service {s.Metadata.Name}: selector {Show(s.Spec.Selector)} matches no pod template"); continue; }
            foreach (var port in s.Spec.Ports)
            {
                string target = port.TargetPort?.Value ?? port.Port.ToString();
                bool found = pods.All(w => Ports(w.Template).Any(cp => cp.Name == target || cp.ContainerPort.ToString() == target));
                if (!found) p.Add($"Service {s.Metadata.Name}: targetPort {target} is not a container port of {string.Join(", ", pods)}");
            }
        }

        foreach (var pdb in objects.OfType<V1PodDisruptionBudget>())
            if (!workloads.Any(w => Matches(pdb.Spec.Selector, w.Template.Metadata.Labels)))
                p.Add($"PodDisruptionBudget {pdb.Metadata.Name}: selector {Show(pdb.Spec.Selector?.MatchLabels)} matches no pod template");

        foreach (var np in objects.OfType<V1NetworkPolicy>())
        {
            var targets = workloads.Where(w => Matches(np.Spec.PodSelector, w.Template.Metadata.Labels)).ToList();
            if (targets.Count == 0) { p.Add($"NetworkPolicy {np.Metadata.Name}: podSelector {Show(np.Spec.PodSelector.MatchLabels)} matches no pod template"); continue; }
            foreach (var rule in np.Spec.Ingress ?? [])
            {
                foreach (var peer in rule.FromProperty ?? [])
                    if (peer.NamespaceSelector is null && peer.PodSelector is not null && !workloads.Any(w => Matches(peer.PodSelector, w.Template.Metadata.Labels)))
                        p.Add($"NetworkPolicy {np.Metadata.Name}: from {Show(peer.PodSelector.MatchLabels)} matches no pod template");
                foreach (var port in rule.Ports ?? [])
                {
                    string v = port.Port?.Value ?? "";
                    if (!targets.All(w => Ports(w.Template).Any(cp => cp.Name == v || cp.ContainerPort.ToString() == v)))
                        p.Add($"NetworkPolicy {np.Metadata.Name}: port {v} is not a container port of {string.Join(", ", targets)}");
                }
            }
        }

        foreach (var hpa in objects.OfType<V2HorizontalPodAutoscaler>())
        {
            var target = objects.OfType<V1Deployment>().SingleOrDefault(d => hpa.Spec.ScaleTargetRef.Kind == "Deployment" && d.Metadata.Name == hpa.Spec.ScaleTargetRef.Name);
            if (target is null) p.Add($"HorizontalPodAutoscaler {hpa.Metadata.Name}: scale target {hpa.Spec.ScaleTargetRef.Kind} {hpa.Spec.ScaleTargetRef.Name} does not exist");
            else if (target.Spec.Template.Spec.Containers.Any(c => c.Resources?.Requests is null || !c.Resources.Requests.ContainsKey("cpu")))
                p.Add($"HorizontalPodAutoscaler {hpa.Metadata.Name}: Deployment {target.Metadata.Name} has a container without a cpu request (CPU utilization needs one)");
        }

        var configMaps = objects.OfType<V1ConfigMap>().Select(c => c.Metadata.Name).ToHashSet();
        var accounts = objects.OfType<V1ServiceAccount>().Select(a => a.Metadata.Name).ToHashSet();
        foreach (var w in workloads)
        {
            foreach (var v in w.Template.Spec.Volumes ?? [])
                if (v.ConfigMap is not null && !configMaps.Contains(v.ConfigMap.Name))
                    p.Add($"{w}: volume {v.Name} mounts ConfigMap {v.ConfigMap.Name}, which is not rendered");
            string sa = w.Template.Spec.ServiceAccountName ?? "default";
            if (sa != "default" && !accounts.Contains(sa)) p.Add($"{w}: ServiceAccount {sa} is not rendered");
        }
    }

    private static V1Container? Container(V1Deployment d, string name) => d.Spec.Template.Spec.Containers.SingleOrDefault(c => c.Name == name);

    private static string? Env(V1Container c, string name) => c.Env?.SingleOrDefault(e => e.Name == name)?.Value;

    /// <summary>The silo's effective configuration: SimSiloOptions defaults, overridden by the container's BpfSim__* values.</summary>
    public static SimSiloOptions EffectiveOptions(V1Container c)
    {
        var o = new SimSiloOptions();
        string? Get(string key) => Env(c, "BpfSim__" + key);
        o.Clustering = Get("Clustering") ?? o.Clustering;
        o.Redis = Get("Redis") ?? o.Redis;
        o.SiloPort = int.TryParse(Get("SiloPort"), out var sp) ? sp : o.SiloPort;
        o.GatewayPort = int.TryParse(Get("GatewayPort"), out var gp) ? gp : o.GatewayPort;
        o.HttpPort = int.TryParse(Get("HttpPort"), out var hp) ? hp : o.HttpPort;
        o.HttpAddress = Get("HttpAddress") ?? o.HttpAddress;
        o.DashboardPort = int.TryParse(Get("DashboardPort"), out var dp) ? dp : o.DashboardPort;
        o.DashboardAddress = Get("DashboardAddress") ?? o.DashboardAddress;
        o.ShutdownTimeoutSeconds = int.TryParse(Get("ShutdownTimeoutSeconds"), out var st) ? st : o.ShutdownTimeoutSeconds;
        o.DeleteDefunctSiloPods = bool.TryParse(Get("DeleteDefunctSiloPods"), out var dd) ? dd : o.DeleteDefunctSiloPods;
        return o;
    }

    private static readonly Dictionary<string, string> FieldRefs = new()
    {
        [KubernetesHostingOptions.PodNameEnvironmentVariable] = "metadata.name",
        [KubernetesHostingOptions.PodNamespaceEnvironmentVariable] = "metadata.namespace",
        [KubernetesHostingOptions.PodIPEnvironmentVariable] = "status.podIP",
        [KubernetesHostingOptions.ServiceIdEnvironmentVariable] = $"metadata.labels['{KubernetesHostingOptions.ServiceIdLabel}']",
        [KubernetesHostingOptions.ClusterIdEnvironmentVariable] = $"metadata.labels['{KubernetesHostingOptions.ClusterIdLabel}']",
    };

    private static void CheckSilo(IReadOnlyList<object> objects, V1Deployment silo, List<string> p)
    {
        string w = $"Deployment {silo.Metadata.Name}";
        var c = Container(silo, SiloContainer);
        if (c is null) { p.Add($"{w}: no container \"{SiloContainer}\""); return; }
        var o = EffectiveOptions(c);
        var labels = silo.Spec.Template.Metadata.Labels ?? new Dictionary<string, string>();

        if (o.Clustering != "kubernetes") p.Add($"{w}: BpfSim__Clustering is \"{o.Clustering}\", not kubernetes");
        foreach (var v in SiloSetup.KubernetesEnvironment)
        {
            var e = c.Env?.SingleOrDefault(x => x.Name == v);
            if (e is null) { p.Add($"{w}: {v} is not set (Microsoft.Orleans.Hosting.Kubernetes reads it)"); continue; }
            string? path = e.ValueFrom?.FieldRef?.FieldPath;
            if (path != FieldRefs[v]) p.Add($"{w}: {v} comes from {path ?? "a literal"}, not the downward API field {FieldRefs[v]}");
        }
        foreach (var label in new[] { KubernetesHostingOptions.ServiceIdLabel, KubernetesHostingOptions.ClusterIdLabel })
            if (!labels.ContainsKey(label)) p.Add($"{w}: pod template has no {label} label");

        // Container ports agree with the ports the silo listens on.
        void Port(string name, int expected)
        {
            var ports = c.Ports?.Where(x => x.Name == name).ToList() ?? [];
            if (ports.Count != 1) p.Add($"{w}: {ports.Count} container ports named {name}");
            else if (ports[0].ContainerPort != expected) p.Add($"{w}: container port {name} is {ports[0].ContainerPort}, the silo listens on {expected}");
        }
        Port("silo", o.SiloPort);
        Port("gateway", o.GatewayPort);
        Port("http", o.HttpPort);
        if (o.HttpAddress != "0.0.0.0") p.Add($"{w}: BpfSim__HttpAddress is {o.HttpAddress}: kubelet probes cannot reach a loopback-only HTTP port");
        if (o.DashboardPort != 0 && o.DashboardAddress != "127.0.0.1") p.Add($"{w}: the dashboard listens on {o.DashboardAddress}, not loopback");
        if (c.Ports?.Any(x => x.ContainerPort == o.DashboardPort) == true) p.Add($"{w}: the loopback dashboard port {o.DashboardPort} is declared as a container port");

        void Probe(string kind, V1Probe? probe, string path)
        {
            if (probe?.HttpGet is null) { p.Add($"{w}: no {kind} probe"); return; }
            string port = probe.HttpGet.Port.Value;
            if (probe.HttpGet.Path != path || (port != "http" && port != o.HttpPort.ToString()))
                p.Add($"{w}: {kind} probe is {probe.HttpGet.Path} on port {port}, not {path} on the HTTP port {o.HttpPort}");
        }
        Probe("readiness", c.ReadinessProbe, "/readyz");
        Probe("liveness", c.LivenessProbe, "/healthz");
        if (c.StartupProbe is not null) Probe("startup", c.StartupProbe, "/healthz");

        var annotations = silo.Spec.Template.Metadata.Annotations;
        if (annotations is not null && annotations.TryGetValue("prometheus.io/port", out var scrape) && scrape != o.HttpPort.ToString())
            p.Add($"{w}: prometheus.io/port is {scrape}, /metrics is on {o.HttpPort}");

        long grace = silo.Spec.Template.Spec.TerminationGracePeriodSeconds ?? 30;
        if (grace != o.ShutdownTimeoutSeconds + 5)
            p.Add($"{w}: terminationGracePeriodSeconds is {grace}, the silo takes up to {o.ShutdownTimeoutSeconds} s to leave (+5 s to exit)");

        // Membership: BpfSim__Redis names a rendered Service and its port.
        var hp = (o.Redis ?? "").Split(':');
        var redis = objects.OfType<V1Service>().SingleOrDefault(s => s.Metadata.Name == hp[0]);
        if (hp.Length != 2 || redis is null || !redis.Spec.Ports.Any(x => x.Port.ToString() == hp[1]))
            p.Add($"{w}: BpfSim__Redis \"{o.Redis}\" is not a rendered Service host:port");
    }

    private static void CheckRbac(IReadOnlyList<object> objects, V1Deployment silo, List<string> p)
    {
        string sa = silo.Spec.Template.Spec.ServiceAccountName ?? "default";
        var bindings = objects.OfType<V1RoleBinding>().Where(b => b.Subjects?.Any(s => s.Kind == "ServiceAccount" && s.Name == sa && s.NamespaceProperty == Namespace) == true).ToList();
        if (bindings.Count != 1) { p.Add($"ServiceAccount {sa} of the silos is bound by {bindings.Count} RoleBindings, not 1"); return; }
        var binding = bindings[0];
        var role = objects.OfType<V1Role>().SingleOrDefault(r => binding.RoleRef.Kind == "Role" && r.Metadata.Name == binding.RoleRef.Name);
        if (role is null) { p.Add($"RoleBinding {binding.Metadata.Name}: {binding.RoleRef.Kind} {binding.RoleRef.Name} is not rendered"); return; }
        var options = Container(silo, SiloContainer) is { } c ? EffectiveOptions(c) : new SimSiloOptions();
        var need = options.DeleteDefunctSiloPods ? HostingPodVerbs : HostingPodVerbs.Where(v => v != "delete").ToArray();
        var rules = role.Rules ?? [];
        var pods = rules.Where(r => r.ApiGroups?.SequenceEqual([""]) == true && r.Resources?.SequenceEqual(["pods"]) == true).ToList();
        if (rules.Count != 1 || pods.Count != 1)
            p.Add($"Role {role.Metadata.Name}: {rules.Count} rules; the silos need exactly one, on core pods");
        else if (!pods[0].Verbs.OrderBy(v => v).SequenceEqual(need.OrderBy(v => v)) || pods[0].ResourceNames is { Count: > 0 })
            p.Add($"Role {role.Metadata.Name}: pods verbs are {string.Join(", ", pods[0].Verbs)}; the hosting package needs exactly {string.Join(", ", need)}");
        if (objects.OfType<V1ServiceAccount>().SingleOrDefault(a => a.Metadata.Name == sa)?.AutomountServiceAccountToken == false
            && silo.Spec.Template.Spec.AutomountServiceAccountToken != true)
            p.Add($"Deployment {silo.Metadata.Name}: no service account token is mounted, the hosting package cannot reach the API");
    }

    private static void CheckJob(IReadOnlyList<object> objects, V1Deployment silo, List<string> p)
    {
        var job = objects.OfType<V1Job>().SingleOrDefault(j => j.Metadata.Name == ScenarioJob);
        if (job is null) { p.Add($"no Job {ScenarioJob}"); return; }
        string w = $"Job {job.Metadata.Name}";
        var c = job.Spec.Template.Spec.Containers.Single();
        var labels = silo.Spec.Template.Metadata.Labels ?? new Dictionary<string, string>();
        void Same(string env, string label)
        {
            string? value = Env(c, env);
            labels.TryGetValue(label, out var expected);
            if (value != expected) p.Add($"{w}: {env} is \"{value}\", the silos' {label} is \"{expected}\"");
        }
        Same("BpfSim__ClusterId", KubernetesHostingOptions.ClusterIdLabel);
        Same("BpfSim__ServiceId", KubernetesHostingOptions.ServiceIdLabel);
        var siloRedis = Container(silo, SiloContainer) is { } sc ? EffectiveOptions(sc).Redis : null;
        if (Env(c, "BPFSIM_CLUSTER") != "redis://" + siloRedis)
            p.Add($"{w}: BPFSIM_CLUSTER is \"{Env(c, "BPFSIM_CLUSTER")}\", the silos' membership is redis://{siloRedis}");
        var sa = objects.OfType<V1ServiceAccount>().SingleOrDefault(a => a.Metadata.Name == job.Spec.Template.Spec.ServiceAccountName);
        if (job.Spec.Template.Spec.AutomountServiceAccountToken != false && sa?.AutomountServiceAccountToken != false)
            p.Add($"{w}: mounts a service account token it does not need");
        if (objects.OfType<V1RoleBinding>().Any(b => b.Subjects?.Any(s => s.Name == job.Spec.Template.Spec.ServiceAccountName) == true))
            p.Add($"{w}: its ServiceAccount is bound to a Role it does not need");

        // The scenario it runs is a ConfigMap key that parses as a scenario.
        var mount = c.VolumeMounts?.FirstOrDefault(m => (c.Args ?? []).Concat(c.Command ?? []).Any(a => a.Contains(m.MountPath + "/scenario.yaml", StringComparison.Ordinal)));
        var volume = mount is null ? null : job.Spec.Template.Spec.Volumes?.SingleOrDefault(v => v.Name == mount.Name);
        var map = volume?.ConfigMap is null ? null : objects.OfType<V1ConfigMap>().SingleOrDefault(m => m.Metadata.Name == volume.ConfigMap.Name);
        if (map?.Data is null || !map.Data.TryGetValue("scenario.yaml", out var text)) p.Add($"{w}: the scenario.yaml it runs is not in a mounted ConfigMap");
        else if (!ScenarioParser.TryParse(text, "scenario.yaml", out _, out var error)) p.Add($"{w}: its scenario does not parse: {error}");
    }

    private static void CheckSecurity(List<Workload> workloads, List<string> p)
    {
        foreach (var w in workloads)
        {
            var spec = w.Template.Spec;
            if (spec.SecurityContext?.RunAsNonRoot != true) p.Add($"{w}: runAsNonRoot is not set");
            foreach (var c in spec.Containers)
            {
                if (c.SecurityContext?.ReadOnlyRootFilesystem != true) p.Add($"{w}: container {c.Name} has a writable root filesystem");
                if (c.SecurityContext?.AllowPrivilegeEscalation != false) p.Add($"{w}: container {c.Name} allows privilege escalation");
                if (c.SecurityContext?.Capabilities?.Drop?.Contains("ALL") != true) p.Add($"{w}: container {c.Name} keeps its capabilities");
                if (c.Resources?.Requests is null || !c.Resources.Requests.ContainsKey("cpu") || !c.Resources.Requests.ContainsKey("memory"))
                    p.Add($"{w}: container {c.Name} has no cpu/memory request");
                if (c.Resources?.Limits is null || !c.Resources.Limits.ContainsKey("memory")) p.Add($"{w}: container {c.Name} has no memory limit");
            }
        }
    }
}
