using System.Text.RegularExpressions;

namespace BpfTraceSim.K8s.Tests;

/// <summary>The checks are not vacuous: each breakage of a rendered manifest is reported, in words.</summary>
public sealed class MutationTests
{
    private static string Dev => Kustomize.Render("overlays/dev");

    private static List<string> CheckAfter(string kind, string name, Func<string, string> edit) =>
        ManifestChecks.Check(Kustomize.Parse(Kustomize.Mutate(Dev, kind, name, edit)));

    private static Func<string, string> Replace(string from, string to) => doc =>
    {
        int n = Regex.Matches(doc, Regex.Escape(from)).Count;
        if (n != 1) throw new InvalidOperationException($"\"{from}\" occurs {n} times");
        return doc.Replace(from, to);
    };

    [Fact]
    public void Unmutated_dev_passes()
    {
        Assert.Empty(ManifestChecks.Check(Kustomize.Parse(Dev)));
    }

    [Fact]
    public void Broken_service_selector_is_reported()
    {
        var p = CheckAfter("Service", "bpfsim-gateway", Replace("  selector:\n    app.kubernetes.io/name: bpfsim-silo", "  selector:\n    app.kubernetes.io/name: bpfsim-silos"));
        Assert.Equal(["Service bpfsim-gateway: selector app.kubernetes.io/name=bpfsim-silos matches no pod template"], p);
    }

    [Fact]
    public void Deployment_selector_that_misses_its_pods_is_reported()
    {
        var p = CheckAfter("Deployment", "bpfsim-silo", Replace("      orleans/serviceId: bpfsim\n  strategy:", "      orleans/serviceId: other\n  strategy:"));
        Assert.Contains("Deployment bpfsim-silo: selector app.kubernetes.io/name=bpfsim-silo,orleans/serviceId=other does not match its pod template", p);
    }

    [Fact]
    public void Wrong_gateway_port_is_reported()
    {
        var p = CheckAfter("Deployment", "bpfsim-silo", Replace("containerPort: 30000", "containerPort: 30001"));
        Assert.Equal(["NetworkPolicy bpfsim-silo: port 30000 is not a container port of Deployment bpfsim-silo",
            "Deployment bpfsim-silo: container port gateway is 30001, the silo listens on 30000"], p);
    }

    [Fact]
    public void Silo_port_env_that_disagrees_with_the_container_port_is_reported()
    {
        var p = CheckAfter("Deployment", "bpfsim-silo", Replace("value: \"11111\"", "value: \"11112\""));
        Assert.Equal(["Deployment bpfsim-silo: container port silo is 11111, the silo listens on 11112"], p);
    }

    [Fact]
    public void Missing_pod_ip_variable_is_reported()
    {
        var p = CheckAfter("Deployment", "bpfsim-silo", Replace(
            "        - name: POD_IP\n          valueFrom:\n            fieldRef:\n              fieldPath: status.podIP\n", ""));
        Assert.Equal(["Deployment bpfsim-silo: POD_IP is not set (Microsoft.Orleans.Hosting.Kubernetes reads it)"], p);
    }

    [Fact]
    public void Cluster_id_from_a_literal_is_reported()
    {
        var p = CheckAfter("Deployment", "bpfsim-silo", Replace(
            "        - name: ORLEANS_CLUSTER_ID\n          valueFrom:\n            fieldRef:\n              fieldPath: metadata.labels['orleans/clusterId']\n",
            "        - name: ORLEANS_CLUSTER_ID\n          value: bpfsim\n"));
        Assert.Equal(["Deployment bpfsim-silo: ORLEANS_CLUSTER_ID comes from a literal, not the downward API field metadata.labels['orleans/clusterId']"], p);
    }

    [Fact]
    public void Extra_verb_in_the_role_is_reported()
    {
        var p = CheckAfter("Role", "bpfsim-silo", Replace("  - patch\n  - delete", "  - patch\n  - delete\n  - create"));
        Assert.Equal(["Role bpfsim-silo: pods verbs are get, list, watch, patch, delete, create; the hosting package needs exactly get, list, watch, patch, delete"], p);
    }

    [Fact]
    public void Missing_patch_verb_is_reported()
    {
        var p = CheckAfter("Role", "bpfsim-silo", Replace("  - patch\n", ""));
        Assert.Equal(["Role bpfsim-silo: pods verbs are get, list, watch, delete; the hosting package needs exactly get, list, watch, patch, delete"], p);
    }

    [Fact]
    public void Secrets_access_is_reported()
    {
        var p = CheckAfter("Role", "bpfsim-silo", Replace("  resources:\n  - pods\n", "  resources:\n  - pods\n  - secrets\n"));
        Assert.Equal(["Role bpfsim-silo: 1 rules; the silos need exactly one, on core pods"], p);
    }

    [Fact]
    public void Cluster_role_is_reported()
    {
        var p = CheckAfter("Role", "bpfsim-silo", Replace("kind: Role\n", "kind: ClusterRole\n"));
        Assert.Contains("ClusterRole bpfsim-silo: cluster-wide RBAC is more than the silos need", p);
        Assert.Contains("RoleBinding bpfsim-silo: Role bpfsim-silo is not rendered", p);
    }

    [Fact]
    public void Grace_period_shorter_than_the_shutdown_is_reported()
    {
        var p = CheckAfter("Deployment", "bpfsim-silo", Replace("terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 10"));
        Assert.Equal(["Deployment bpfsim-silo: terminationGracePeriodSeconds is 10, the silo takes up to 25 s to leave (+5 s to exit)"], p);
    }

    [Fact]
    public void Loopback_http_port_is_reported()
    {
        var p = CheckAfter("Deployment", "bpfsim-silo", Replace("value: 0.0.0.0", "value: 127.0.0.1"));
        Assert.Equal(["Deployment bpfsim-silo: BpfSim__HttpAddress is 127.0.0.1: kubelet probes cannot reach a loopback-only HTTP port"], p);
    }

    [Fact]
    public void Job_of_another_cluster_is_reported()
    {
        var p = CheckAfter("Job", "bpfsim-scenario", Replace("        - name: BpfSim__ClusterId\n          value: bpfsim\n", "        - name: BpfSim__ClusterId\n          value: bpfsim-2\n"));
        Assert.Equal(["Job bpfsim-scenario: BpfSim__ClusterId is \"bpfsim-2\", the silos' orleans/clusterId is \"bpfsim\""], p);
    }

    [Fact]
    public void Network_policy_for_a_client_nobody_runs_is_reported()
    {
        var p = CheckAfter("NetworkPolicy", "bpfsim-redis", Replace("app.kubernetes.io/name: bpfsim-client", "app.kubernetes.io/name: bpfsim-cli"));
        Assert.Equal(["NetworkPolicy bpfsim-redis: from app.kubernetes.io/name=bpfsim-cli matches no pod template"], p);
    }

    [Fact]
    public void Writable_root_filesystem_is_reported()
    {
        var p = CheckAfter("Job", "bpfsim-scenario", Replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"));
        Assert.Equal(["Job bpfsim-scenario: container bpfsim has a writable root filesystem"], p);
    }

    [Fact]
    public void Broken_scenario_in_the_config_map_is_reported()
    {
        var p = CheckAfter("ConfigMap", "bpfsim-scenario-" + ScenarioSuffix(), Replace("duration: 10s", "duration: 10"));
        var one = Assert.Single(p);
        Assert.StartsWith("Job bpfsim-scenario: its scenario does not parse: ", one);
    }

    [Fact]
    public void Misspelled_field_fails_the_strict_parse()
    {
        string yaml = Kustomize.Mutate(Dev, "Deployment", "bpfsim-silo", Replace("containerPort: 30000", "contanerPort: 30000"));
        Assert.ThrowsAny<Exception>(() => Kustomize.Parse(yaml));
    }

    private static string ScenarioSuffix() =>
        Regex.Match(Dev, @"name: bpfsim-scenario-([a-z0-9]+)\n").Groups[1].Value;
}
