// Runs one PowerShell script in a hosted runspace of PowerShell 7.6.9 for Windows and prints its
// streams; the exit code is 1 when the script failed (an error record or a terminating error).
// Usage: KodoWinHost.exe <script.ps1> [arguments...]
using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

static class Program
{
    static int Main(string[] args)
    {
        if (args.Length < 1)
        {
            Console.Error.WriteLine("usage: KodoWinHost <script.ps1> [arguments...]");
            return 2;
        }
        // PowerShell's own modules (Microsoft.PowerShell.Utility ...) are not in the SDK package:
        // the harness copies the Windows ones beside this program.
        var modules = Path.Combine(AppContext.BaseDirectory, "Modules");
        var path = Environment.GetEnvironmentVariable("PSModulePath");
        Environment.SetEnvironmentVariable("PSModulePath", string.IsNullOrEmpty(path) ? modules : modules + ";" + path);
        var iss = InitialSessionState.CreateDefault2();
        iss.ExecutionPolicy = Microsoft.PowerShell.ExecutionPolicy.Bypass;
        using var runspace = RunspaceFactory.CreateRunspace(iss);
        runspace.Open();
        using var ps = PowerShell.Create();
        ps.Runspace = runspace;
        ps.Streams.Error.DataAdded += (s, e) => Console.Error.WriteLine("ERROR: " + ps.Streams.Error[e.Index]);
        ps.Streams.Warning.DataAdded += (s, e) => Console.WriteLine("WARNING: " + ps.Streams.Warning[e.Index]);
        ps.Streams.Information.DataAdded += (s, e) => Console.WriteLine(ps.Streams.Information[e.Index].MessageData);
        ps.Streams.Verbose.DataAdded += (s, e) => Console.WriteLine("VERBOSE: " + ps.Streams.Verbose[e.Index]);
        ps.AddCommand(Path.GetFullPath(args[0]));
        // "-Name value" binds a parameter, "-Name" alone a switch; anything else is positional.
        for (var i = 1; i < args.Length; i++)
        {
            var a = args[i];
            if (a.StartsWith('-') && a.Length > 1)
            {
                if (i + 1 < args.Length && !args[i + 1].StartsWith('-')) ps.AddParameter(a.Substring(1), args[++i]);
                else ps.AddParameter(a.Substring(1), true);
            }
            else ps.AddArgument(a);
        }
        ps.AddCommand("Out-String").AddParameter("Stream", true).AddParameter("Width", 200);
        try
        {
            foreach (var line in ps.Invoke()) Console.WriteLine(line);
        }
        catch (RuntimeException e)
        {
            Console.Error.WriteLine("TERMINATING: " + e.ErrorRecord);
            Console.Error.WriteLine(e.ErrorRecord.ScriptStackTrace);
            return 1;
        }
        return ps.HadErrors ? 1 : 0;
    }
}
