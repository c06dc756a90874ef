using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Sidep.Benchmarks;

/// <summary>A benchmark class that knows how many input bytes each of its benchmarks parses per operation.</summary>
public interface IMeasuredBytes
{
    void Setup();
    int BytesOf(string method);
}

/// <summary>Adds an MB/s column: input bytes per operation divided by the mean time.</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig() => AddColumn(new MegabytesPerSecondColumn());

    private sealed class MegabytesPerSecondColumn : IColumn
    {
        public string Id => "MBps";
        public string ColumnName => "MB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Input bytes parsed per second (10^6 bytes/s)";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            BenchmarkReport? report = summary[benchmarkCase];
            if (report?.ResultStatistics is null || Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IMeasuredBytes measured)
            {
                return "-";
            }
            foreach (BenchmarkDotNet.Parameters.ParameterInstance parameter in benchmarkCase.Parameters.Items)
            {
                benchmarkCase.Descriptor.Type.GetProperty(parameter.Name)?.SetValue(measured, parameter.Value); // e.g. the bundle's size
            }
            measured.Setup();
            int bytes = measured.BytesOf(benchmarkCase.Descriptor.WorkloadMethod.Name);
            return (bytes / (report.ResultStatistics.Mean / 1e9) / 1e6).ToString("F1");
        }
    }
}
