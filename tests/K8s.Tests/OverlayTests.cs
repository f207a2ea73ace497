using k8s.Models;

namespace BpfTraceSim.K8s.Tests;

/// <summary>Each overlay renders, every object parses strictly into its V1 model, and the checks find nothing.</summary>
public sealed class OverlayTests
{
    private static readonly string[] BaseKinds =
    [
        "ConfigMap", "Deployment", "Deployment", "Job", "Namespace", "NetworkPolicy", "NetworkPolicy", "PodDisruptionBudget",
        "Role", "RoleBinding", "Service", "Service", "ServiceAccount", "ServiceAccount",
    ];

    private static List<object> Load(string overlay) => Kustomize.Parse(Kustomize.Render("overlays/" + overlay));

    private static string[] Kinds(IEnumerable<object> objects) =>
        [.. objects.Select(o => ((k8s.IKubernetesObject)o).Kind).OrderBy(k => k, StringComparer.Ordinal)];

    [Theory]
    [InlineData("dev")]
    [InlineData("large")]
    public void Overlay_passes_every_check(string overlay)
    {
        var objects = Load(overlay);
        Assert.Empty(ManifestChecks.Check(objects));
    }

    [Fact]
    public void Base_renders_the_same_objects_as_dev()
    {
        var base_ = Kustomize.Parse(Kustomize.Render("base"));
        Assert.Equal(BaseKinds, Kinds(base_));
        Assert.Empty(ManifestChecks.Check(base_));
    }

    [Fact]
    public void Dev_is_one_small_silo()
    {
        var objects = Load("dev");
        Assert.Equal(BaseKinds, Kinds(objects));
        var silo = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "bpfsim-silo");
        Assert.Equal(1, silo.Spec.Replicas);
        var c = silo.Spec.Template.Spec.Containers.Single();
        Assert.Equal("bpfsim-silo:dev", c.Image);
        Assert.Equal("100m", c.Resources.Requests["cpu"].ToString());
        Assert.Equal("bpfsim-client:dev", objects.OfType<V1Job>().Single().Spec.Template.Spec.Containers.Single().Image);
    }

    [Fact]
    public void Large_scales_on_cpu_from_eight_to_thirty_two_silos()
    {
        var objects = Load("large");
        Assert.Equal([.. BaseKinds.Append("HorizontalPodAutoscaler").Order(StringComparer.Ordinal)], Kinds(objects));
        var silo = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "bpfsim-silo");
        Assert.Equal(8, silo.Spec.Replicas);
        Assert.Equal("registry.example.com/bpfsim/bpfsim-silo:0.1.0", silo.Spec.Template.Spec.Containers.Single().Image);
        var hpa = objects.OfType<V2HorizontalPodAutoscaler>().Single();
        Assert.Equal((8, 32), (hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas));
        var metric = Assert.Single(hpa.Spec.Metrics);
        Assert.Equal(("cpu", "Utilization", 70), (metric.Resource.Name, metric.Resource.Target.Type, metric.Resource.Target.AverageUtilization));
        Assert.Equal(silo.Spec.Replicas, hpa.Spec.MinReplicas);
        Assert.Equal("2", objects.OfType<V1PodDisruptionBudget>().Single().Spec.MaxUnavailable.Value);
    }

    [Fact]
    public void Silo_environment_carries_what_the_kubernetes_hosting_reads()
    {
        var silo = Load("dev").OfType<V1Deployment>().Single(d => d.Metadata.Name == "bpfsim-silo");
        var env = silo.Spec.Template.Spec.Containers.Single().Env.ToDictionary(e => e.Name);
        Assert.Equal("metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.namespace", env["POD_NAMESPACE"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("status.podIP", env["POD_IP"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/serviceId']", env["ORLEANS_SERVICE_ID"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/clusterId']", env["ORLEANS_CLUSTER_ID"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("kubernetes", env["BpfSim__Clustering"].Value);
        var labels = silo.Spec.Template.Metadata.Labels;
        Assert.Equal(("bpfsim", "bpfsim"), (labels["orleans/serviceId"], labels["orleans/clusterId"]));
    }

    [Fact]
    public void Container_ports_are_the_silo_defaults()
    {
        var silo = Load("dev").OfType<V1Deployment>().Single(d => d.Metadata.Name == "bpfsim-silo");
        var defaults = new BpfTraceSim.Silo.SimSiloOptions();
        var ports = silo.Spec.Template.Spec.Containers.Single().Ports.ToDictionary(p => p.Name, p => p.ContainerPort);
        Assert.Equal(new Dictionary<string, int> { ["silo"] = defaults.SiloPort, ["gateway"] = defaults.GatewayPort, ["http"] = defaults.HttpPort }, ports);
        Assert.Equal(defaults.ShutdownTimeoutSeconds + 5, silo.Spec.Template.Spec.TerminationGracePeriodSeconds);
    }

    [Fact]
    public void Rbac_grants_pod_access_in_the_namespace_and_nothing_else()
    {
        var objects = Load("large");
        var role = Assert.Single(objects.OfType<V1Role>());
        var rule = Assert.Single(role.Rules);
        Assert.Equal([""], rule.ApiGroups);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Equal(["get", "list", "watch", "patch", "delete"], rule.Verbs);
        Assert.Empty(objects.OfType<V1ClusterRole>());
        Assert.Empty(objects.OfType<V1ClusterRoleBinding>());
        var binding = Assert.Single(objects.OfType<V1RoleBinding>());
        Assert.Equal(("Role", "bpfsim-silo"), (binding.RoleRef.Kind, binding.RoleRef.Name));
        Assert.Equal("bpfsim-silo", Assert.Single(binding.Subjects).Name);
    }
}
