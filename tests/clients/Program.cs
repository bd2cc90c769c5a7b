// Runs MSAL.NET and the Microsoft Graph .NET SDK, unmodified, against the Kodo tenant emulator:
// the emulator's proxy (HTTPS_PROXY) sends login.microsoftonline.com and graph.microsoft.com to
// it, and the emulator's CA is the only extra root trusted (custom root trust, nothing loosened).
//
// Usage: dotnet RealClients.dll <announcement.json>   (the emulator's first stdout line)
// Prints "PASS <check>" / "FAIL <check>: <why>" lines and ends with "N passed, N failed".
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Graph;
using Microsoft.Graph.Models;
using Microsoft.Identity.Client;
using Microsoft.Kiota.Abstractions.Authentication;

var info = JsonDocument.Parse(File.ReadAllText(args[0])).RootElement;
var tenant = info.GetProperty("tenants")[0];
string tenantId = tenant.GetProperty("tenantId").GetString()!;
string clientId = tenant.GetProperty("bootstrapClientId").GetString()!;
string secret = tenant.GetProperty("bootstrapClientSecret").GetString()!;
string pemPath = tenant.GetProperty("bootstrapCertificate").GetString()!;
string emulatorUrl = info.GetProperty("url").GetString()!;
var ca = X509Certificate2.CreateFromPem(File.ReadAllText(info.GetProperty("caCertificate").GetString()!));

HttpClientHandler Handler(bool useProxy) => new()
{
    UseProxy = useProxy,
    ServerCertificateCustomValidationCallback = (_, cert, _, errors) =>
    {
        if (cert is null) return false;
        if (errors == SslPolicyErrors.None) return true;
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(cert);
    },
};
var proxied = new HttpClient(Handler(useProxy: true));
var direct = new HttpClient(Handler(useProxy: false));
var factory = new Factory(proxied);
string authority = $"https://login.microsoftonline.com/{tenantId}";
string[] graphScope = ["https://graph.microsoft.com/.default"];

int passed = 0, failed = 0;
async Task Check(string name, Func<Task> body)
{
    try { await body(); Console.WriteLine($"PASS {name}"); passed++; }
    catch (Exception e) { Console.WriteLine($"FAIL {name}: {e.GetType().Name}: {e.Message}"); failed++; }
}
void Assert(bool condition, string what) { if (!condition) throw new Exception(what); }
string Claim(string jwt, string name)
{
    var payload = jwt.Split('.')[1].Replace('-', '+').Replace('_', '/');
    payload = payload.PadRight(payload.Length + (4 - payload.Length % 4) % 4, '=');
    var doc = JsonDocument.Parse(Convert.FromBase64String(payload)).RootElement;
    return doc.TryGetProperty(name, out var v) ? v.ToString() : "";
}

string? secretToken = null;
await Check("msal-client-secret", async () =>
{
    var app = ConfidentialClientApplicationBuilder.Create(clientId).WithClientSecret(secret).WithAuthority(authority).WithHttpClientFactory(factory).Build();
    var result = await app.AcquireTokenForClient(graphScope).ExecuteAsync();
    secretToken = result.AccessToken;
    Assert(Claim(secretToken, "appidacr") == "1", "appidacr should be 1");
    Assert(Claim(secretToken, "tid") == tenantId, "tid");
});

await Check("msal-wrong-secret-is-AADSTS7000215", async () =>
{
    var app = ConfidentialClientApplicationBuilder.Create(clientId).WithClientSecret("wrong").WithAuthority(authority).WithHttpClientFactory(factory).Build();
    try { await app.AcquireTokenForClient(graphScope).ExecuteAsync(); throw new Exception("no error"); }
    catch (MsalServiceException e) { Assert(e.ErrorCode == "invalid_client" && e.Message.Contains("AADSTS7000215"), e.Message); }
});

await Check("msal-certificate", async () =>
{
    using var cert = X509Certificate2.CreateFromPemFile(pemPath);
    var app = ConfidentialClientApplicationBuilder.Create(clientId).WithCertificate(cert).WithAuthority(authority).WithHttpClientFactory(factory).Build();
    var result = await app.AcquireTokenForClient(graphScope).ExecuteAsync();
    Assert(Claim(result.AccessToken, "appidacr") == "2", "appidacr should be 2");
});

await Check("msal-device-code", async () =>
{
    var app = PublicClientApplicationBuilder.Create(clientId).WithAuthority(authority).WithHttpClientFactory(factory).Build();
    var result = await app.AcquireTokenWithDeviceCode(["https://graph.microsoft.com/Application.ReadWrite.All"], async code =>
    {
        // Stands in for the admin typing the code in a browser.
        var r = await direct.PostAsync($"{emulatorUrl}/_emulator/devicecodes/{code.UserCode}/approve", null);
        Assert(r.StatusCode == HttpStatusCode.NoContent, $"approve: {r.StatusCode}");
    }).ExecuteAsync();
    Assert(Claim(result.AccessToken, "scp").Contains("Application.ReadWrite.All"), "scp");
});

var graph = new GraphServiceClient(proxied, new BaseBearerTokenAuthenticationProvider(new MsalTokens(clientId, secret, authority, factory)));
Microsoft.Graph.Models.Application? created = null;
Microsoft.Graph.Models.ServicePrincipal? createdSp = null;
await Check("graph-sdk-create-application", async () =>
{
    created = await graph.Applications.PostAsync(new Microsoft.Graph.Models.Application { DisplayName = "Created by the Graph SDK", SignInAudience = "AzureADMyOrg", Tags = ["graph-sdk"] });
    Assert(created?.AppId is not null && created.Id is not null, "no ids");
});
await Check("graph-sdk-create-service-principal", async () =>
{
    // Replication lag is 0 here; real clients retry on NoBackingApplicationObject.
    createdSp = await graph.ServicePrincipals.PostAsync(new Microsoft.Graph.Models.ServicePrincipal { AppId = created!.AppId });
    Assert(createdSp?.Id is not null, "no id");
});
await Check("graph-sdk-assign-app-role", async () =>
{
    var graphSp = await graph.ServicePrincipalsWithAppId("00000003-0000-0000-c000-000000000000").GetAsync(r => r.QueryParameters.Select = ["id", "appRoles"]);
    var role = graphSp!.AppRoles!.First(r => r.Value == "User.Read.All");
    var assignment = await graph.ServicePrincipals[graphSp.Id].AppRoleAssignedTo.PostAsync(new AppRoleAssignment
    {
        PrincipalId = Guid.Parse(createdSp!.Id!), ResourceId = Guid.Parse(graphSp.Id!), AppRoleId = role.Id,
    });
    Assert(assignment?.AppRoleId == role.Id, "role id");
    try
    {
        await graph.ServicePrincipals[graphSp.Id].AppRoleAssignedTo.PostAsync(new AppRoleAssignment { PrincipalId = Guid.Parse(createdSp.Id!), ResourceId = Guid.Parse(graphSp.Id!), AppRoleId = role.Id });
        throw new Exception("duplicate accepted");
    }
    catch (Microsoft.Graph.Models.ODataErrors.ODataError e)
    {
        Assert(e.ResponseStatusCode == 400 && e.Error?.Message == "Permission being assigned already exists on the object", e.Error?.Message ?? "");
    }
});
await Check("graph-sdk-page-a-list", async () =>
{
    var page = await graph.ServicePrincipals.GetAsync(r => r.QueryParameters.Top = 2);
    int count = 0;
    var iterator = PageIterator<Microsoft.Graph.Models.ServicePrincipal, ServicePrincipalCollectionResponse>.CreatePageIterator(graph, page!, _ => { count++; return true; });
    await iterator.IterateAsync();
    // 4 first-party resources, the bootstrap app, the managed identity, the two seeded EWS apps
    // (a mail archiver and a migration tool on the EWS allow list), and the SDK's own.
    Assert(count == 9, $"counted {count}");
});
await Check("graph-sdk-filter-by-tag", async () =>
{
    var apps = await graph.Applications.GetAsync(r => { r.QueryParameters.Filter = "tags/any(t:t eq 'graph-sdk')"; r.QueryParameters.Select = ["id", "appId"]; });
    Assert(apps?.Value?.Count == 1 && apps.Value[0].AppId == created!.AppId, "filter");
});

Console.WriteLine($"{passed} passed, {failed} failed");
return failed == 0 ? 0 : 1;

sealed class Factory(HttpClient client) : IMsalHttpClientFactory
{
    public HttpClient GetHttpClient() => client;
}

sealed class MsalTokens(string clientId, string secret, string authority, IMsalHttpClientFactory factory) : IAccessTokenProvider
{
    private readonly IConfidentialClientApplication _app = ConfidentialClientApplicationBuilder.Create(clientId).WithClientSecret(secret).WithAuthority(authority).WithHttpClientFactory(factory).Build();
    public AllowedHostsValidator AllowedHostsValidator { get; } = new(["graph.microsoft.com"]);
    public async Task<string> GetAuthorizationTokenAsync(Uri uri, Dictionary<string, object>? context = null, CancellationToken ct = default)
        => (await _app.AcquireTokenForClient(["https://graph.microsoft.com/.default"]).ExecuteAsync(ct)).AccessToken;
}
